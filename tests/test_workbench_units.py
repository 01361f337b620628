"""The workbench's pure parts: missed-question signals and groups, working days, drafts
and diffs, the gate's choice of cases, and the one case runner's rule."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from assistant.cases import BenchTurn, Benchmark, Case, Expect, item_found
from assistant.core.errors import InvalidInput
from assistant.core.types import Activity, FeedbackRecord, Option, Ticket, Turn
from assistant.workbench.drafts import apply_fields, field_diff, fields_view, parse_value
from assistant.workbench.gate import gate_cases
from assistant.workbench.missed import group_questions, missed_questions
from assistant.workbench.reviews import add_working_days, review_summary, review_tasks
from eval.metrics import TurnOutcome
from knowledge_base.loader import load_yaml
from tests.fakes import KeywordEmbedder, tiny_items

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # a Wednesday, 10:00 in Shanghai
_ids = itertools.count(1)


def _turn(cid: str, role: str, text: str, *, action: str = "", intent: str = "", options=(), minutes: int = 0) -> Turn:
    return Turn(next(_ids), cid, role, text, T0 + timedelta(minutes=minutes), intent=intent, action=action,
                item_ids=("passport-apply",) if role == "assistant" else (), options=tuple(options))


def test_every_signal_of_a_missed_question() -> None:
    option = Option(label="普通护照申领", value="passport-apply", item_id="passport-apply")
    turns = [
        _turn("a", "user", "怎么办游艇驾照", intent="out_of_scope"), _turn("a", "assistant", "抱歉", action="refuse"),
        _turn("b", "user", "出国的本本", intent="consult.overview"), _turn("b", "assistant", "您是问？", action="clarify", options=[option]),
        _turn("b", "user", "算了", intent="thanks"), _turn("b", "assistant", "不客气", action="chitchat"),
        _turn("c", "user", "护照", intent="consult.overview"), _turn("c", "assistant", "您是问？", action="clarify", options=[option]),
        _turn("c", "user", "passport-apply", intent="consult.overview"), _turn("c", "assistant", "答", action="answer"),
        _turn("d", "user", "护照多少钱", intent="consult.fee"), _turn("d", "assistant", "答", action="answer"),
        _turn("e", "user", "宝宝落户口", intent="consult.overview"), _turn("e", "assistant", "转人工", action="handoff"),
        _turn("f", "user", "你好", intent="greeting"), _turn("f", "assistant", "您好", action="chitchat"),
    ]
    thumbs = FeedbackRecord(1, "d", turns[11].id, False, None, "", T0)
    rating = FeedbackRecord(2, "f", None, None, 1, "", T0)
    ticket = Ticket(1, "e", "new", "missing_knowledge", "x", "s", T0)
    activity = Activity({}, tuple(turns), (thumbs, rating), (ticket,))
    got = {q.text: q.signals for q in missed_questions(activity)}
    assert got == {
        "怎么办游艇驾照": ("no_answer",),
        "出国的本本": ("low_confidence", "clarify_unanswered"),
        "护照": ("low_confidence",),  # the citizen picked an option: asked, not left
        "护照多少钱": ("thumbs_down",),
        "宝宝落户口": ("handoff_missing",),
    }  # small talk in a badly rated conversation is no missed question


def test_questions_group_by_embedding_and_by_text() -> None:
    from assistant.workbench.missed import MissedQuestion

    texts = ["护照怎么办理", "护照怎么办理？", "护照要怎么办理呢", "社保卡丢了怎么补", "护照怎么办理"]
    qs = [MissedQuestion(n, f"c{n}", t, T0 + timedelta(minutes=n), ("no_answer",)) for n, t in enumerate(texts)]
    groups = group_questions(qs, KeywordEmbedder(), similarity=0.75)
    sizes = sorted((g.count, g.text) for g in groups)
    assert sizes == [(1, "社保卡丢了怎么补"), (4, "护照怎么办理")]
    alone = group_questions(qs, None, similarity=0.75)  # without an embedder, only equal texts group
    assert sorted(g.count for g in alone) == [1, 1, 3]  # punctuation and spaces aside


def test_working_days_and_the_review_figure() -> None:
    friday = date(2026, 11, 27)
    assert add_working_days(friday, 1) == date(2026, 11, 30)
    assert add_working_days(friday, 5) == date(2026, 12, 4)
    ratings = [FeedbackRecord(n, f"c{n}", None, None, r, "", T0) for n, r in enumerate([1, 2, 4, 1, 2], start=1)]
    closed = {
        "1": {"closed_at": (T0 + timedelta(days=2)).isoformat(), "fix": "passport-apply v3", "by": "x"},
        "2": {"closed_at": (T0 + timedelta(days=20)).isoformat(), "fix": "late", "by": "x"},
        "4": {"closed_at": T0.isoformat(), "fix": "", "by": "x"},
    }
    tasks = review_tasks(Activity({}, (), tuple(ratings), ()), closed, days=5, tz="Asia/Shanghai")
    assert len(tasks) == 4  # the 4-star rating is no task
    assert tasks[0].due == date(2026, 12, 2)
    s = review_summary(tasks, today=date(2026, 12, 10), tz="Asia/Shanghai")
    assert s == {"bad_ratings": 4, "fixed_on_time": 1, "closed_late_or_unfixed": 2, "open_overdue": 1,
                 "open_not_due": 0, "on_time_rate": 0.25}


ITEM = """# 普通护照申领: a comment the edit keeps
id: passport-apply
name: 普通护照申领  # the catalog's name
aliases:
  - 办护照
  - 护照
fees: 免费
faqs:
  - question: 多久？
    answer: 7个工作日
"""


def test_field_edits_keep_untouched_lines_and_say_what_changed() -> None:
    text, changed = apply_fields(ITEM, {"aliases": "办护照\n护照\n出国的本本\n", "fees": "免费", "time_limit": "7个工作日"})
    assert changed == ["aliases", "time_limit"]
    assert "# 普通护照申领: a comment the edit keeps" in text and "name: 普通护照申领  # the catalog's name" in text
    data = load_yaml(text)
    assert data["aliases"] == ["办护照", "护照", "出国的本本"] and data["time_limit"] == "7个工作日"
    diff = {d["field"]: d for d in field_diff(load_yaml(ITEM), data)}
    assert diff["aliases"]["added"] == ["出国的本本"] and diff["aliases"]["removed"] == []
    assert diff["time_limit"]["before"] is None
    view = {f["name"]: f for f in fields_view(text)}
    assert view["faqs"]["kind"] == "yaml" and "question: 多久？" in view["faqs"]["value"]
    assert view["aliases"]["value"] == "办护照\n护照\n出国的本本"
    with pytest.raises(InvalidInput, match="faqs: not valid YAML"):
        apply_fields(ITEM, {"faqs": "- question: [oops"})
    with pytest.raises(InvalidInput, match="effective_from"):
        parse_value("effective_from", "next week")
    with pytest.raises(InvalidInput, match="not an editable item field"):
        apply_fields(ITEM, {"history": "x"})


def test_the_gate_runs_the_item_s_cases_and_those_naming_words_it_adds() -> None:
    items = {i.id: i for i in tiny_items()}
    passport = items["passport-apply"]
    from dataclasses import replace

    draft = replace(passport, aliases=(*passport.aliases, "社保卡丢了"))
    cases = (
        Case("p", (BenchTurn("护照怎么办", Expect(items=("passport-apply",))),)),
        Case("s", (BenchTurn("社保卡丢了怎么补", Expect(items=("social-security-card",))),)),
        Case("h", (BenchTurn("宝宝户口", Expect(items=("hukou-newborn",))),)),
    )
    chosen, missed = gate_cases(Benchmark("b", cases), draft, passport, ["出国的本本", "出国的本本 ", ""])
    assert [c.id for c in chosen] == ["p", "s"]
    assert [(c.id, c.turns[0].user, c.turns[0].expect.action) for c in missed] == [("missed-1", "出国的本本", "answer")]


@pytest.mark.parametrize("action", [None, "answer", "clarify", "refuse"])
def test_item_found_is_the_rule_eval_scores_items_by(action: str | None) -> None:
    rankings = [(), ("a",), ("b", "a"), ("b", "c", "d", "e", "a"), ("b", "c", "d", "e", "f", "a")]
    for ranking, expect in itertools.product(rankings, [(), ("a",)]):
        outcome = TurnOutcome("c", 0, "q", "zh", expect_items=expect, expect_action=action, ranking=ranking)
        assert item_found(ranking, expect, action) == ("items" not in outcome.failures)
