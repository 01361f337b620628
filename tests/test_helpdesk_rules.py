"""Escalation rules and working hours."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from assistant.core.errors import ConfigError
from assistant.helpdesk import EscalationRules, WorkingHours
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import (
    Action,
    Answer,
    Conversation,
    DialogueState,
    Hit,
    IntentPrediction,
    TicketDraft,
    TurnResult,
)

UTC = timezone.utc
NOON_SH = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 12:00 Shanghai
NIGHT_SH = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 22:30 Shanghai


def result(intent: str = "consult.overview", *, action: Action = Action.ANSWER, unresolved: int = 0,
           hits: bool = True, lang: str = "zh") -> TurnResult:
    return TurnResult(
        answer=Answer(text="bot answer", action=action, lang=lang),  # type: ignore[arg-type]
        intent=IntentPrediction(label=intent, confidence=0.9),
        hits=(Hit(item_id="passport-apply", score=0.5),) if hits else (),
        state=DialogueState(lang=lang, unresolved_turns=unresolved),  # type: ignore[arg-type]
    )


CONVERSATION = Conversation(id="c", created_at=NOON_SH, lang="zh", state=DialogueState())


def rules(hours: str = "09:00-18:00", at: datetime = NOON_SH) -> EscalationRules:
    return EscalationRules(HelpdeskSettings(working_hours=hours), clock=lambda: at)


@pytest.mark.parametrize(
    ("message", "res", "reason"),
    [
        ("护照怎么办", result(), ""),
        ("我不想活了，护照也办不下来", result(), "sensitive"),
        ("我被家暴了，想办离婚", result(), "sensitive"),
        ("I want to kill myself", result(lang="en"), "sensitive"),
        ("你们窗口态度太差了", result("complaint"), ""),  # venting: the policy gives the complaint channel
        ("窗口态度太差，我要求你们给我一个说法", result("complaint"), "complaint"),
        ("I demand a refund for this fee", result("complaint", lang="en"), "complaint"),
        ("要求", result("consult.fee"), ""),  # a demand word alone is not a complaint
        ("还是不懂", result(unresolved=2), "low_confidence"),
        ("还是不懂", result(unresolved=2, hits=False), "missing_knowledge"),
        ("还是不懂", result(unresolved=1), ""),
        ("我想自杀", result("request_human", action=Action.HANDOFF), ""),  # already a handoff: its own reason stands
    ],
)
def test_reasons(message: str, res: TurnResult, reason: str) -> None:
    assert rules().reason_for(message, res) == reason


def test_review_turns_the_answer_into_a_handoff_with_a_notice() -> None:
    out = rules().review("我不想活了", result(), CONVERSATION)
    assert out.answer.action is Action.HANDOFF and out.handoff_reason == "sensitive"
    assert out.state.handed_off and "110" in out.answer.text and "12356" in out.answer.text
    unchanged = result()
    assert rules().review("护照怎么办", unchanged, CONVERSATION) is unchanged


def test_route_in_and_out_of_working_hours() -> None:
    draft = TicketDraft(reason="customer_request", department="d", summary="s")
    res = result(action=Action.HANDOFF)
    same_draft, same_res = rules(at=NOON_SH).route(draft, res, CONVERSATION)
    assert same_draft == draft and same_res == res
    night_draft, night_res = rules(at=NIGHT_SH).route(draft, res, CONVERSATION)
    assert night_draft.callback and "09:00-18:00" in night_res.answer.text
    sensitive = TicketDraft(reason="sensitive", department="d", summary="s", priority=1)
    assert rules(at=NOON_SH).route(sensitive, res, CONVERSATION)[0].priority == 3


@pytest.mark.parametrize(
    ("spec", "local_hour", "is_open"),
    [
        ("09:00-18:00", 8, False),
        ("09:00-18:00", 9, True),
        ("09:00-18:00", 17, True),
        ("09:00-18:00", 18, False),
        ("22:00-06:00", 23, True),
        ("22:00-06:00", 3, True),
        ("22:00-06:00", 12, False),
        ("00:00-24:00", 3, True),
    ],
)
def test_working_hours(spec: str, local_hour: int, is_open: bool) -> None:
    at = datetime(2026, 11, 25, (local_hour - 8) % 24, 0, tzinfo=UTC)
    assert WorkingHours(spec, "Asia/Shanghai").is_open(at) is is_open


def test_unknown_time_zone_fails_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="Asia/Shanghai"):
        WorkingHours("09:00-18:00", "Mars/Olympus")


# --------------------------------------------------------------------------- every reason has its own notice

#: words each reason's notice must carry, per language (what the citizen needs to hear).
NOTICE_WORDS = {
    "customer_request": {"zh": "转接人工", "en": "connecting you"},
    "low_confidence": {"zh": "没能答好", "en": "could not answer"},
    "missing_knowledge": {"zh": "知识库", "en": "no information"},
    "negative_feedback": {"zh": "没能帮到", "en": "did not help"},
    "complaint": {"zh": "诉求已记录", "en": "complaint is recorded"},
    "sensitive": {"zh": "110", "en": "110"},
}


def test_every_reason_code_has_a_notice_in_both_languages() -> None:
    from assistant.helpdesk import HANDOFF_NOTICES, REASONS

    assert set(NOTICE_WORDS) == set(REASONS) == set(HANDOFF_NOTICES)
    for lang in ("zh", "en"):
        texts = [HANDOFF_NOTICES[r][lang] for r in REASONS]
        assert len(set(texts)) == len(texts), f"two reasons share a {lang} notice"


@pytest.mark.parametrize("reason", list(NOTICE_WORDS))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_handoff_tells_the_citizen_its_own_reason(reason: str, lang: str) -> None:
    from assistant.helpdesk import handoff_result

    out = handoff_result(result(lang=lang), reason, lang)  # type: ignore[arg-type]
    assert NOTICE_WORDS[reason][lang] in out.answer.text
    assert out.handoff_reason == reason and out.state.handed_off and out.answer.action is Action.HANDOFF
    if reason != "low_confidence":
        assert "could not work out" not in out.answer.text and "没能准确理解" not in out.answer.text


def test_a_dialogue_handoff_gets_the_notice_of_its_reason() -> None:
    """The dialogue's complaint handoff (no complaint channel in the KB) is told it is a complaint."""
    from dataclasses import replace

    composer_text = "Sorry, I could not work out your question. I'm passing you to a staff member."
    handed = replace(
        result("complaint", action=Action.HANDOFF, lang="en"),
        answer=Answer(text=composer_text, action=Action.HANDOFF, lang="en"),
        handoff_reason="complaint",
    )
    out = rules().review("your window staff were rude", handed, CONVERSATION)
    assert "complaint is recorded" in out.answer.text and out.handoff_reason == "complaint"


def test_an_unknown_reason_fails_with_the_fix() -> None:
    from assistant.helpdesk import handoff_notice

    with pytest.raises(ValueError, match="HANDOFF_NOTICES"):
        handoff_notice("bored", "zh")


def test_thresholds_come_from_settings() -> None:
    strict = EscalationRules(
        HelpdeskSettings(working_hours="09:00-18:00", unresolved_turns_limit=1, sensitive_priority=5),
        clock=lambda: NOON_SH,
    )
    assert strict.reason_for("还是不懂", result(unresolved=1)) == "low_confidence"
    sensitive = TicketDraft(reason="sensitive", department="d", summary="s", priority=1)
    assert strict.route(sensitive, result(action=Action.HANDOFF), CONVERSATION)[0].priority == 6
