"""The check-up conversation inside the dialogue engine: cues, replies, stepping aside, privacy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from assistant.checkup import CheckupEngine
from assistant.core.types import Action, DialogueState, ProfileQuestion, ServiceItem
from assistant.dialogue.checkup import checkup_audience, read_facts, read_reply
from assistant.dialogue.engine import DialogueEngine
from assistant.dialogue.policy import ActionPolicy
from assistant.generators.composer import Composer
from intents.rules import RuleClassifier
from knowledge_base.loader import load_items
from tests.fakes import tiny_items
from tests.test_dialogue_engine import THRESHOLDS, BigramRetriever

KB = Path(__file__).resolve().parents[1] / "knowledge_base" / "items"

CUES = [
    "帮我看看我能享受哪些政策",
    "我能享受哪些政策？",
    "我可以领哪些补贴",
    "我符合哪些补贴政策",
    "有哪些补贴我可以申请",
    "政策体检",
    "我家老人能领什么补贴",
    "What benefits am I eligible for?",
    "Which subsidies can I apply for?",
    "Am I eligible for any benefits?",
    "benefits check-up",
]
COMPANY_CUES = [
    "我们公司能申请哪些补贴",
    "帮我们企业看看能享受哪些政策",
    "企业政策体检",
    "What support can my company get?",
    "company benefits check-up",
]
NOT_CUES = [
    "育儿补贴怎么申请",
    "我能领失业金吗",
    "这个政策我能享受吗",
    "老年综合津贴一个月多少钱",
    "我能领多少补贴",
    "退休后我能享受什么待遇",
    "稳岗补贴需要企业自己申请吗",
    "How do I apply for the childcare subsidy?",
    "Am I eligible for the elderly allowance if I am 64?",
    "居住证积分怎么算",
]


@pytest.mark.parametrize("text", CUES)
def test_a_citizen_asking_what_they_qualify_for_starts_a_check_up(text: str) -> None:
    assert checkup_audience(text) == "citizen"


@pytest.mark.parametrize("text", COMPANY_CUES)
def test_a_company_gets_the_enterprise_check_up(text: str) -> None:
    assert checkup_audience(text) == "enterprise"


@pytest.mark.parametrize("text", NOT_CUES)
def test_ordinary_questions_are_not_captured(text: str) -> None:
    assert checkup_audience(text) is None


# --------------------------------------------------------------------------- reading replies


@pytest.fixture(scope="module")
def checkup_items() -> list[ServiceItem]:
    return [i for i in load_items(KB) if i.eligibility is not None]


@pytest.fixture(scope="module")
def checker(checkup_items: list[ServiceItem]) -> CheckupEngine:
    return CheckupEngine(checkup_items)


def q(checker: CheckupEngine, *fields: str, audience: str = "citizen") -> ProfileQuestion:
    from assistant.core.types import Profile

    return checker.question_for(Profile(audience), fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text, value",
    [("67岁", "67"), ("我今年六十七", "67"), ("七十多岁了", "70-79"), ("65岁及以上", "65-"), ("80", "80"),
     ("I'm 70", "70"), ("65 or older", "65-")],
)
def test_ages_in_everyday_words(checker: CheckupEngine, text: str, value: str) -> None:
    r = read_reply(text, q(checker, "age"), "citizen", "zh")
    assert r is not None and r.values["age"] == value


@pytest.mark.parametrize(
    "text, value",
    [("3年", "36-47"), ("二十五年", "300-311"), ("半年", "6"), ("8个月", "8"), ("一年半", "18"), ("没交过", "0"),
     ("1年及以上", "12-"), ("不满1年", "1-11"), ("5 years", "60-71")],
)
def test_insurance_time_in_everyday_words(checker: CheckupEngine, text: str, value: str) -> None:
    r = read_reply(text, q(checker, "insurance_months"), "citizen", "zh")
    assert r is not None and r.values["insurance_months"] == value


@pytest.mark.parametrize(
    "text, value",
    [("上海户口", "hukou"), ("本地人", "hukou"), ("我有居住证", "permit"), ("外地的，没有居住证", "resident"),
     ("不在上海", "away"), ("2", "permit"), ("Shanghai hukou", "hukou")],
)
def test_residence_in_everyday_words(checker: CheckupEngine, text: str, value: str) -> None:
    r = read_reply(text, q(checker, "residence"), "citizen", "zh")
    assert r is not None and r.values["residence"] == value


@pytest.mark.parametrize(
    "text, value",
    [("被辞退了", "laid_off"), ("合同到期没续签", "laid_off"), ("我自己辞职的", "quit"), ("退休了", "retired"),
     ("在公司上班", "employed"), ("开了个小店", "business"), ("跑外卖", "flexible"), ("Retired", "retired")],
)
def test_work_in_everyday_words(checker: CheckupEngine, text: str, value: str) -> None:
    r = read_reply(text, q(checker, "employment"), "citizen", "zh")
    assert r is not None and r.values["employment"] == value


def test_a_checklist_reads_buttons_numbers_words_and_negations(checker: CheckupEngine) -> None:
    fields = ("income", "disability", "youngest_child_age", "home", "renting", "housing_fund", "certificate")
    cl = q(checker, *fields)
    none = read_reply("以上都没有", cl, "citizen", "zh")
    assert none is not None and none.values == {
        "income": "neither", "disability": "no", "youngest_child_age": "3-", "home": "own", "renting": "no",
        "housing_fund": "no", "certificate": "no",
    }
    both = read_reply("家庭享受低保，或人均收入低于本市低保标准；属于本市低收入困难家庭", cl, "citizen", "zh")
    assert both is not None and both.values["income"] == "dibao"  # 低保 wins over low income
    by_number = read_reply("3、5", cl, "citizen", "zh")
    assert by_number is not None and by_number.values["disability"] == "yes" and by_number.values["home"] == "none"
    words = read_reply("没有低保，孩子两岁，租房住", cl, "citizen", "zh")
    assert words is not None
    assert words.values["income"] == "neither" and words.values["youngest_child_age"] == "0-2"
    assert words.values["renting"] == "yes"
    assert read_reply("None of these", cl, "citizen", "en") is not None
    assert read_reply("天气不错", cl, "citizen", "zh") is None


@pytest.mark.parametrize("text", ["不想说", "跳过", "不知道", "Prefer not to say", "skip"])
def test_any_question_can_be_skipped(checker: CheckupEngine, text: str) -> None:
    r = read_reply(text, q(checker, "age"), "citizen", "zh")
    assert r is not None and r.skip and not r.values


def test_results_now(checker: CheckupEngine) -> None:
    r = read_reply("直接看结果", q(checker, "age"), "citizen", "zh")
    assert r is not None and r.finish


def test_facts_volunteered_beside_the_answer_are_kept(checker: CheckupEngine) -> None:
    r = read_reply("上海户口，今年70岁，已经退休了", q(checker, "residence"), "citizen", "zh")
    assert r is not None and r.values == {"residence": "hukou", "age": "70", "employment": "retired"}
    assert read_facts("我们是一家制造业企业", "enterprise") == {"sector": "manufacturing"}


# --------------------------------------------------------------------------- in the dialogue engine


@pytest.fixture
def engine(checkup_items: list[ServiceItem]) -> DialogueEngine:
    items = {i.id: i for i in (*tiny_items(), *checkup_items)}
    return DialogueEngine(
        classifier=RuleClassifier(),
        retriever=BigramRetriever(list(items.values())),
        reranker=None,
        generator=Composer(),
        policy=ActionPolicy(THRESHOLDS),
        items=items,
    )


def talk(engine: DialogueEngine, *messages: str, state: DialogueState | None = None):  # type: ignore[no-untyped-def]
    state = state or DialogueState()
    out = []
    for m in messages:
        r = engine.turn(m, state, ())
        out.append(r)
        state = r.state
    return out


SENIOR = {"residence": "上海户籍", "age": "65岁及以上", "employment": "已退休", "insurance_months": "1年及以上",
          "circumstances": "以上都没有"}
SENIOR_EN = {"residence": "Shanghai hukou", "age": "65 or older", "employment": "Retired",
             "insurance_months": "1 year or more", "circumstances": "None of these"}


def check_up(engine: DialogueEngine, start: str, answers: dict[str, str]):  # type: ignore[no-untyped-def]
    """Start a check-up and answer each question it asks from ``answers`` (by question key)."""
    r = engine.turn(start, DialogueState(), ())
    out = [r]
    while r.state.checkup is not None and r.state.checkup.pending:
        key = engine.checkup.question_for(r.state.checkup.profile, r.state.checkup.pending).key
        r = engine.turn(answers[key], r.state, ())
        out.append(r)
        assert len(out) < 10
    return out


def test_a_check_up_asks_with_buttons_then_gives_three_lists(engine: DialogueEngine) -> None:
    first, *_, last = check_up(engine, "帮我看看我能享受哪些政策", SENIOR)
    assert first.answer.action is Action.CLARIFY and first.intent.label == "consult.conditions"
    labels = [o.label for o in first.answer.options]
    assert "上海户籍" in labels and "不想说" in labels and "直接看结果" in labels and "改为企业政策体检" in labels
    assert first.state.checkup is not None and first.state.checkup.pending == ("residence",)
    assert last.answer.action is Action.ANSWER and last.state.checkup.pending == ()
    text = last.answer.text
    assert "✅ 可以享受" in text and "🔍 可能可以享受" in text and "✖ 暂不符合" in text
    assert "老年综合津贴：符合“具有本市户籍”；“年满65周岁”" in text
    assert {c.item_id for c in last.answer.citations} >= {"elderly-allowance", "elderly-health-checkup"}
    assert last.state.unresolved_turns == 0  # questions are no unresolved turns (no handoff)


def test_a_question_mid_check_up_steps_aside_and_keeps_the_answers(engine: DialogueEngine) -> None:
    results = talk(engine, "帮我看看我能享受哪些政策", "上海户籍", "居住证怎么办理")
    aside = results[-1]
    assert aside.answer.action is not Action.CLARIFY or aside.state.checkup.pending == ()
    assert aside.state.checkup is not None and aside.state.checkup.pending == ()
    assert aside.state.checkup.profile.choices == {"residence": "hukou"}
    assert "residence-permit-apply" in [h.item_id for h in aside.hits][:3]


def test_an_unclear_reply_is_asked_again_once(engine: DialogueEngine) -> None:
    start, again = talk(engine, "帮我看看我能享受哪些政策", "嗯嗯")
    assert again.answer.action is Action.CLARIFY and again.state.checkup.retries == 1
    assert "没看懂" in again.answer.text
    assert again.state.checkup.pending == start.state.checkup.pending
    third = engine.turn("嗯嗯", again.state, ())
    assert third.state.checkup.pending == ()  # the second time the check-up steps aside


def test_switching_to_the_enterprise_check_up(engine: DialogueEngine) -> None:
    _, company = talk(engine, "帮我看看我能享受哪些政策", "企业政策体检")
    assert company.state.checkup.profile.audience == "enterprise"
    assert any(o.toggle for o in company.answer.options)  # the company checklist


def test_english_check_up(engine: DialogueEngine) -> None:
    first, *_, last = check_up(engine, "What benefits am I eligible for?", SENIOR_EN)
    assert first.answer.lang == "en" and "Prefer not to say" in [o.label for o in first.answer.options]
    assert "You qualify" in last.answer.text and "Senior citizens' comprehensive allowance" in last.answer.text


def test_results_now_ends_with_what_is_known(engine: DialogueEngine) -> None:
    *_, last = talk(engine, "帮我看看我能享受哪些政策", "上海户籍", "直接看结果")
    assert last.answer.action is Action.ANSWER
    assert "您未回答：年龄" in last.answer.text  # 老年综合津贴 is possible: the age was not asked


def test_a_question_naming_one_item_is_answered_as_usual(engine: DialogueEngine) -> None:
    (r,) = talk(engine, "我能享受哪些育儿补贴")
    assert r.state.checkup is None


def test_the_stream_gives_the_same_check_up_turn(engine: DialogueEngine) -> None:
    *pieces, result = list(engine.turn_stream("帮我看看我能享受哪些政策", DialogueState(), ()))
    assert "".join(pieces) == result.answer.text and result.state.checkup is not None


def test_the_profile_is_masked_in_the_state_and_in_logs(engine: DialogueEngine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    *_, last = talk(engine, "帮我看看我能享受哪些政策", "非上海户籍，持有上海居住证", "60–64岁")
    shown = repr(last.state)
    assert "masked" in shown and "permit" not in shown and "60-64" not in shown
    assert "permit" not in caplog.text and "60-64" not in caplog.text
