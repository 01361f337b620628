"""Escalation rules: when a person takes over, and what the citizen is told.

:class:`EscalationRules` plugs into ``Assistant`` (``assistant.conversations.Escalation``):
it turns a bot answer into a handoff on a sensitive topic, on a complaint that
demands action and after too many unresolved turns; it gives every handoff
the notice of its own reason; and it makes a handoff outside working hours a
call-back ticket with a notice saying so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from assistant.core.settings import HelpdeskSettings
from assistant.core.types import Action, Answer, Conversation, Lang, TicketDraft, TurnResult
from assistant.helpdesk.hours import WorkingHours

#: Topics a bot must not handle alone: risk to life or safety, abuse, threats.
#: Kept narrow on purpose: ordinary out-of-scope questions are refused by the
#: dialogue policy, not escalated.
SENSITIVE_PATTERNS: tuple[str, ...] = (
    r"自杀|轻生|不想活|活不下去|跳楼|割腕|结束生命",
    r"家暴|家庭暴力|被打|虐待|性侵|性骚扰",
    r"杀了?他|报复社会|同归于尽|炸[掉了]",
    r"\bsuicide\b|kill (?:my|him|her)self|end my life|domestic violence|\babuse[ds]?\b",
)
#: Words of a complaint that demands something be done (not just venting).
ACTION_DEMAND_PATTERNS: tuple[str, ...] = (
    r"要求|必须|给[我个]?(?:一个)?说法|处理一下|赔偿|退[钱款费]|追究|问责|严肃处理|整改|立即|马上解决|负责人",
    r"\b(?:demand|compensat|refund|resolve this|escalate|manager|supervisor|take action)\w*",
)

#: What the citizen is told when a person takes over, per reason code.  Every
#: reason a ticket may carry has its own text (a complaint is not told that its
#: question was not understood).
HANDOFF_NOTICES: Mapping[str, Mapping[Lang, str]] = {
    "customer_request": {
        "zh": "好的，正在为您转接人工客服，请稍候，客服会在这里回复您。您也可以拨打12345市民服务热线。",
        "en": "Sure, I'm connecting you to a staff member; they will reply here shortly. "
        "You can also call the 12345 citizen hotline.",
    },
    "low_confidence": {
        "zh": "抱歉，这个问题小申没能答好，已为您转接人工客服，请稍候。",
        "en": "Sorry, I could not answer this well; a staff member will reply here shortly.",
    },
    "missing_knowledge": {
        "zh": "抱歉，小申的知识库里还没有这个问题的答案，已为您转接人工客服，请稍候。",
        "en": "Sorry, I have no information on this yet; a staff member will reply here shortly.",
    },
    "negative_feedback": {
        "zh": "抱歉回答没能帮到您，已为您转接人工客服，请稍候。",
        "en": "Sorry the answers did not help; a staff member will reply here shortly.",
    },
    "complaint": {
        "zh": "您的诉求已记录，正在为您转接人工客服跟进处理。也可拨打12345市民服务热线。",
        "en": "Your complaint is recorded and a staff member will follow it up. You can also call the 12345 hotline.",
    },
    "sensitive": {
        "zh": "您说的情况很重要，已为您转接人工客服。如有人身危险，请立即拨打110；需要心理援助可拨打12356。",
        "en": "What you describe matters; a staff member is joining. If anyone is in danger call 110 now; "
        "for psychological support call 12356.",
    },
}
#: Reason codes a ticket may carry.
REASONS: tuple[str, ...] = tuple(HANDOFF_NOTICES)
OFF_HOURS_NOTICE: Mapping[Lang, str] = {
    "zh": "现在是人工服务时间（{hours}）以外，已为您登记回复工单，客服上班后会在这里回复您；急事请拨打12345。",
    "en": "Staff are on duty {hours} (Shanghai time). Your request is logged and they will reply here when "
    "the desk opens; for urgent matters call 12345.",
}


def handoff_notice(reason: str, lang: Lang) -> str:
    """The citizen-facing text of a handoff with ``reason``; ValueError for a code without one."""
    texts = HANDOFF_NOTICES.get(reason)
    if texts is None:
        raise ValueError(
            f"handoff reason {reason!r} has no citizen notice; use one of {', '.join(REASONS)} "
            "or add its texts to assistant.helpdesk.escalation.HANDOFF_NOTICES"
        )
    return texts[lang]


class EscalationRules:
    """Helpdesk rules around the dialogue; an ``assistant.conversations.Escalation``.

    ``clock`` gives aware datetimes (tests script it); thresholds come from ``settings``.
    """

    def __init__(self, settings: HelpdeskSettings, *, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.hours = WorkingHours(settings.working_hours, settings.timezone)
        self.clock = clock
        self._sensitive = [re.compile(p, re.IGNORECASE) for p in SENSITIVE_PATTERNS]
        self._demand = [re.compile(p, re.IGNORECASE) for p in ACTION_DEMAND_PATTERNS]

    def reason_for(self, message: str, result: TurnResult) -> str:
        """The reason to hand this turn to a person, or "" to let the bot's answer stand."""
        if result.answer.action is Action.HANDOFF:
            return ""  # the dialogue already hands off, with its own reason
        text = unicodedata.normalize("NFKC", message)
        if any(p.search(text) for p in self._sensitive):
            return "sensitive"
        if result.intent.label == "complaint" and any(p.search(text) for p in self._demand):
            return "complaint"
        if result.state.unresolved_turns >= self.settings.unresolved_turns_limit:
            return "missing_knowledge" if not result.hits else "low_confidence"
        return ""

    def review(self, message: str, result: TurnResult, conversation: Conversation) -> TurnResult:
        """Turn the bot's answer into a handoff when a rule says a person must take over;
        a handoff the dialogue decided gets the notice of its own reason."""
        if result.answer.action is Action.HANDOFF and result.handoff_reason:
            return handoff_result(result, result.handoff_reason, result.state.lang)
        reason = self.reason_for(message, result)
        if not reason:
            return result
        return handoff_result(result, reason, result.state.lang)

    def route(
        self, draft: TicketDraft, result: TurnResult, conversation: Conversation
    ) -> tuple[TicketDraft, TurnResult]:
        """Priority for sensitive cases; outside working hours a call-back ticket and notice."""
        if draft.reason == "sensitive":
            draft = replace(draft, priority=draft.priority + self.settings.sensitive_priority)
        if self.hours.is_open(self.clock()):
            return draft, result
        lang = result.state.lang
        notice = OFF_HOURS_NOTICE[lang].format(hours=self.hours.spec)
        if draft.reason == "sensitive":
            notice = handoff_notice("sensitive", lang) + "\n" + notice
        answer = replace(result.answer, text=notice)
        return replace(draft, callback=True), replace(result, answer=answer)


def handoff_result(result: TurnResult, reason: str, lang: Lang) -> TurnResult:
    """``result`` turned into a handoff with ``reason`` and its notice."""
    answer = Answer(text=handoff_notice(reason, lang), action=Action.HANDOFF, lang=lang, generator="helpdesk")
    state = result.state.without_question(handed_off=True)
    return replace(result, answer=answer, state=state, handoff_reason=reason)
