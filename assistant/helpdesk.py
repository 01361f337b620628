"""The human helpdesk: escalation rules, working hours, queue views, SLA and metrics.

- :class:`EscalationRules` plugs into ``Assistant`` (``pipeline.Escalation``):
  it turns a bot answer into a handoff on a sensitive topic, on a complaint
  that demands action and after too many unresolved turns, and it makes a
  handoff outside working hours a call-back ticket with a notice saying so.
- :class:`Helpdesk` is what the staff console and the citizen's chat call:
  the queue ordered by priority, a citizen's place in it and estimated wait,
  claim / reply / transfer / resolve / hand back / reopen with the notices
  the citizen sees, a suggested reply drafted by the dialogue stages from the
  knowledge base, knowledge-base search and canned replies.
- :func:`compute_metrics` is a pure function over conversation and ticket
  records (tested on a scripted timeline): self-service resolution rate,
  handoff rate and reasons, first human response p50/p90, human resolution
  rate, 好差评 ratings; overall and per item, department and day.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.core.errors import ConfigError, InvalidInput, NotFound
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import (
    Action,
    Answer,
    Citation,
    Conversation,
    IntentPrediction,
    Lang,
    ServiceItem,
    Ticket,
    TicketDraft,
    Turn,
    TurnResult,
)

if TYPE_CHECKING:
    from assistant.db import Database
    from assistant.conversations import Assistant

#: Reason codes a ticket may carry.
REASONS: tuple[str, ...] = (
    "customer_request",
    "low_confidence",
    "missing_knowledge",
    "negative_feedback",
    "complaint",
    "sensitive",
)
#: The department of a ticket whose item is unknown.
GENERAL_DEPARTMENT = "一网通办综合咨询"

# --------------------------------------------------------------------------- working hours


class WorkingHours:
    """Daily staffed hours in a time zone; ``00:00-24:00`` means always staffed.

    A range whose end is before its start spans midnight (``22:00-06:00``).
    """

    def __init__(self, spec: str, timezone: str) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ConfigError(f"helpdesk timezone {timezone!r} is unknown; use an IANA name such as Asia/Shanghai") from e
        start, end = spec.split("-")
        self.spec = spec
        self.start = _minutes(start)
        self.end = _minutes(end)

    @property
    def always(self) -> bool:
        """Whether somebody is on duty around the clock."""
        return self.start == self.end or (self.start == 0 and self.end == 24 * 60)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (aware) falls inside the working hours."""
        if self.always:
            return True
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def local_date(self, at: datetime) -> date:
        """The calendar day of ``at`` in the helpdesk's time zone."""
        return at.astimezone(self.tz).date()


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


# --------------------------------------------------------------------------- escalation

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

_NOTICES: dict[str, dict[Lang, str]] = {
    "sensitive": {
        "zh": "您说的情况很重要，已为您转接人工客服。如有人身危险，请立即拨打110；需要心理援助可拨打12356。",
        "en": "What you describe matters; a staff member is joining. If anyone is in danger call 110 now; "
        "for psychological support call 12356.",
    },
    "complaint": {
        "zh": "您的诉求已记录，正在为您转接人工客服跟进处理。也可拨打12345市民服务热线。",
        "en": "Your complaint is recorded and a staff member will follow it up. You can also call the 12345 hotline.",
    },
    "low_confidence": {
        "zh": "抱歉，这个问题小申没能答好，已为您转接人工客服，请稍候。",
        "en": "Sorry, I could not answer this well; a staff member will reply here shortly.",
    },
    "negative_feedback": {
        "zh": "抱歉回答没能帮到您，已为您转接人工客服，请稍候。",
        "en": "Sorry the answers did not help; a staff member will reply here shortly.",
    },
}
_OFF_HOURS = {
    "zh": "现在是人工服务时间（{hours}）以外，已为您登记回复工单，客服上班后会在这里回复您；急事请拨打12345。",
    "en": "Staff are on duty {hours} (Shanghai time). Your request is logged and they will reply here when "
    "the desk opens; for urgent matters call 12345.",
}
_HANDED_BACK = {
    "zh": "人工客服已结束本次服务，小申继续为您服务。请为本次服务打分（1–5星）。",
    "en": "The staff member has finished; Xiao Shen is back. Please rate this service (1–5 stars).",
}
_REOPENED = {
    "zh": "您的问题已重新转给人工客服，请稍候。",
    "en": "Your request is back with the staff; please wait for their reply.",
}
_TRANSFERRED = {
    "zh": "已为您转给{department}的工作人员，请稍候。",
    "en": "Your request has been passed to {department}; please wait.",
}
#: Replies an agent inserts with one click (then edits).
CANNED_REPLIES: dict[Lang, tuple[str, ...]] = {
    "zh": (
        "您好，我是人工客服，正在查看您的问题，请稍候。",
        "请问您办理的是本人业务还是代办？",
        "您可以登录“一网通办”或“随申办”APP在线办理，进度可在“我的办件”中查询。",
        "这个问题需要到窗口核实，建议携带身份证原件前往办理地点。",
        "还有其他可以帮您的吗？没有的话我先结束本次服务，小申会继续为您服务。",
    ),
    "en": (
        "Hello, I am a staff member and I am looking at your question now.",
        "Are you applying for yourself or on someone's behalf?",
        "You can do this online on the Yiwangtongban website or the Suishenban app.",
        "Is there anything else I can help with? If not, I will hand you back to Xiao Shen.",
    ),
}


class EscalationRules:
    """Helpdesk rules around the dialogue; an ``assistant.conversations.Escalation``.

    ``clock`` gives aware datetimes (tests script it); ``unresolved_limit`` is
    the number of unresolved turns in a row after which a person takes over
    (the dialogue policy usually hands off first; this is the backstop).
    """

    def __init__(
        self,
        settings: HelpdeskSettings,
        *,
        clock: Callable[[], datetime],
        unresolved_limit: int = 2,
    ) -> None:
        self.settings = settings
        self.hours = WorkingHours(settings.working_hours, settings.timezone)
        self.clock = clock
        self.unresolved_limit = unresolved_limit
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
        if result.state.unresolved_turns >= self.unresolved_limit:
            return "missing_knowledge" if not result.hits else "low_confidence"
        return ""

    def review(self, message: str, result: TurnResult, conversation: Conversation) -> TurnResult:
        """Turn the bot's answer into a handoff when a rule says a person must take over."""
        reason = self.reason_for(message, result)
        if not reason:
            return result
        return handoff_result(result, reason, result.state.lang)

    def route(
        self, draft: TicketDraft, result: TurnResult, conversation: Conversation
    ) -> tuple[TicketDraft, TurnResult]:
        """Priority for sensitive cases; outside working hours a call-back ticket and notice."""
        if draft.reason == "sensitive":
            draft = replace(draft, priority=draft.priority + 2)
        if self.hours.is_open(self.clock()):
            return draft, result
        lang = result.state.lang
        notice = _OFF_HOURS[lang].format(hours=self.hours.spec)
        if draft.reason == "sensitive":
            notice = _NOTICES["sensitive"][lang] + "\n" + notice
        answer = replace(result.answer, text=notice)
        return replace(draft, callback=True), replace(result, answer=answer)


def handoff_result(result: TurnResult, reason: str, lang: Lang) -> TurnResult:
    """``result`` turned into a handoff with ``reason`` and its notice."""
    notice = _NOTICES.get(reason, _NOTICES["low_confidence"])[lang]
    answer = Answer(text=notice, action=Action.HANDOFF, lang=lang, generator="helpdesk")
    state = result.state.without_question(handed_off=True)
    return replace(result, answer=answer, state=state, handoff_reason=reason)


# --------------------------------------------------------------------------- queue views


@dataclass(frozen=True)
class QueueEntry:
    """A ticket as the console shows it, with its timers."""

    ticket: Ticket
    elder_mode: bool
    lang: Lang
    #: seconds since the current wait began (creation, reopen or transfer).
    waiting_s: float
    #: seconds left before the first-response target is missed (negative: missed).
    sla_remaining_s: float | None
    #: an agent claimed it but their lease lapsed: anyone may take it.
    lease_lapsed: bool
    #: ordering key: higher is served first.
    score: float


@dataclass(frozen=True)
class QueueStatus:
    """What the citizen sees while waiting for a person."""

    ticket_id: int
    status: str
    #: 1-based place among tickets waiting for an agent; 0 once an agent has it.
    position: int
    estimated_wait_s: float
    callback: bool
    working_hours: str
    desk_open: bool
    agent: str = ""


@dataclass(frozen=True)
class Suggestion:
    """A reply drafted from the knowledge base for the agent to edit."""

    text: str
    citations: tuple[Citation, ...]
    question: str
    intent: str
    item_ids: tuple[str, ...]


@dataclass(frozen=True)
class SearchHit:
    """A knowledge-base search result for the console."""

    item_id: str
    name: str
    department: str
    summary: str
    score: float
    online: str


class Helpdesk:
    """The helpdesk operations behind the staff console and the citizen's waiting view."""

    #: tickets whose first response feeds the wait estimate.
    ESTIMATE_WINDOW = 50

    def __init__(self, assistant: Assistant, database: Database, settings: HelpdeskSettings) -> None:
        self.assistant = assistant
        self.database = database
        self.settings = settings
        self.hours = WorkingHours(settings.working_hours, settings.timezone)
        self.clock = database.clock

    # ------------------------------------------------------------------ conversations

    def open_conversation(self, *, lang: Lang = "zh", elder_mode: bool = False, client_id: str = "") -> Conversation:
        """Start a conversation for the web chat (with the browser's anonymous id)."""
        return self.database.conversations.create(lang=lang, elder_mode=elder_mode, client_id=client_id)

    # ------------------------------------------------------------------ queue

    def score(self, ticket: Ticket, elder_mode: bool, now: datetime) -> float:
        """Serve order: seconds waited, plus a head start per priority point (elder mode, sensitive)."""
        waited = (now - (ticket.queued_at or ticket.created_at)).total_seconds()
        boost = ticket.priority + (1 if elder_mode and ticket.priority == 0 else 0)
        return waited + boost * self.settings.priority_boost_s

    def entries(self) -> list[QueueEntry]:
        """Open tickets (new, claimed, answered), most urgent first."""
        now = self.clock()
        tickets = self.database.queue.open_tickets()
        meta = self.database.reports.conversation_meta([t.conversation_id for t in tickets])
        target = self.settings.first_response_target_s
        out = []
        for t in tickets:
            elder, lang = meta.get(t.conversation_id, (False, "zh"))
            since = t.queued_at or t.created_at
            waited = (now - since).total_seconds()
            sla = None
            if t.first_response_at is None and not t.callback:
                sla = target - (now - t.created_at).total_seconds()
            lapsed = t.status != "new" and t.lease_until is not None and t.lease_until < now
            out.append(
                QueueEntry(t, elder, lang, waited, sla, lapsed, self.score(t, elder, now))  # type: ignore[arg-type]
            )
        out.sort(key=lambda e: (_waiting(e), e.score), reverse=True)
        return out

    def status_of(self, conversation_id: str) -> QueueStatus | None:
        """The citizen's open ticket with their place in the queue, or None when none is open."""
        open_ticket = next(
            (t for t in self.database.conversations.tickets_of(conversation_id) if t.status in ("new", "claimed", "answered")),
            None,
        )
        if open_ticket is None:
            return None
        entries = self.entries()
        waiting = [e for e in entries if _waiting(e)]
        position = next((i + 1 for i, e in enumerate(waiting) if e.ticket.id == open_ticket.id), 0)
        estimate = position * self.typical_wait_s() if position else 0.0
        return QueueStatus(
            ticket_id=open_ticket.id,
            status=open_ticket.status,
            position=position,
            estimated_wait_s=round(estimate, 1),
            callback=open_ticket.callback,
            working_hours=self.hours.spec,
            desk_open=self.hours.is_open(self.clock()),
            agent=open_ticket.agent if position == 0 else "",
        )

    def typical_wait_s(self) -> float:
        """Median first-response wait of the latest answered tickets (the target when there are none yet)."""
        waits = self.database.reports.recent_first_response_waits(self.ESTIMATE_WINDOW)
        if not waits:
            return float(self.settings.first_response_target_s)
        return percentile(waits, 50)

    # ------------------------------------------------------------------ agent actions

    def claim(self, ticket_id: int, agent: str) -> Ticket:
        """Claim a ticket (atomic, leased)."""
        return self.database.queue.claim(ticket_id, agent)

    def reply(self, ticket_id: int, agent: str, text: str) -> Turn:
        """Send the agent's reply to the citizen's chat."""
        text = self._clean(text)
        return self.database.queue.reply(ticket_id, agent, text)

    def release(self, ticket_id: int, agent: str) -> Ticket:
        """Put a claimed ticket back in the queue."""
        return self.database.queue.release(ticket_id, agent)

    def transfer(self, ticket_id: int, agent: str, department: str, note: str = "") -> Ticket:
        """Send the ticket to another department and tell the citizen."""
        ticket = self.database.queue.transfer(ticket_id, agent, department, note=note)
        lang = self._lang(ticket.conversation_id)
        self.database.conversations.add_message(
            ticket.conversation_id, "system", _TRANSFERRED[lang].format(department=department)
        )
        return ticket

    def resolve(self, ticket_id: int, agent: str, resolution: str) -> Ticket:
        """Finish the ticket with a resolution code; the bot takes the conversation back."""
        ticket = self.database.queue.get(ticket_id)
        lang = self._lang(ticket.conversation_id)
        return self.database.queue.resolve(ticket_id, agent, resolution=resolution, notice=_HANDED_BACK[lang])

    def hand_back(self, ticket_id: int, agent: str) -> Ticket:
        """Give the conversation back to the bot (resolution ``handed_back``)."""
        return self.resolve(ticket_id, agent, "handed_back")

    def reopen(self, ticket_id: int, agent: str = "", note: str = "") -> Ticket:
        """Reopen a finished ticket; the citizen is told a person will answer again."""
        ticket = self.database.queue.reopen(ticket_id, agent, note=note)
        lang = self._lang(ticket.conversation_id)
        self.database.conversations.add_message(ticket.conversation_id, "system", _REOPENED[lang])
        return ticket

    def reopen_for_citizen(self, conversation_id: str) -> Ticket:
        """The citizen says the matter is not solved: reopen their latest finished ticket."""
        tickets = self.database.conversations.tickets_of(conversation_id)
        if not tickets:
            raise NotFound(f"conversation {conversation_id} has no ticket to reopen; ask for a person instead")
        return self.reopen(tickets[-1].id, "", note="citizen")

    # ------------------------------------------------------------------ citizen-side escalation

    def after_feedback(self, conversation_id: str, negative_count: int) -> Ticket | None:
        """Hand off after the second negative judgement in a conversation (once)."""
        if negative_count < 2:
            return None
        conversation = self.database.conversations.get(conversation_id)
        if conversation.state.handed_off or any(
            t.status in ("new", "claimed", "answered") for t in self.database.conversations.tickets_of(conversation_id)
        ):
            return None
        lang = conversation.state.lang
        placeholder = TurnResult(
            answer=Answer(text="", action=Action.HANDOFF, lang=lang),
            intent=IntentPrediction(label="request_human", confidence=1.0),
            hits=(),
            state=conversation.state,
        )
        result = handoff_result(placeholder, "negative_feedback", lang)
        last_user = next((t.text for t in reversed(conversation.turns) if t.role == "user"), "")
        draft = self.assistant.ticket_draft(last_user, result, conversation)
        escalation = self.assistant.escalation
        if escalation is not None:
            draft, result = escalation.route(draft, result, conversation)
        _, ticket = self.database.conversations.escalate(conversation_id, result.answer, result.state, draft)
        return ticket

    # ------------------------------------------------------------------ agent helpers

    def suggest(self, ticket_id: int) -> Suggestion:
        """A reply drafted by the dialogue stages from the knowledge base, for the agent to edit.

        Runs the citizen's latest questions (newest first) through the
        dialogue without storing anything and returns the first real answer.
        """
        ticket = self.database.queue.get(ticket_id)
        conversation = self.database.conversations.get(ticket.conversation_id)
        questions = [t.text for t in reversed(conversation.turns) if t.role == "user"]
        state = replace(conversation.state, handed_off=False, unresolved_turns=0)
        for question in questions[:5]:
            result = self.assistant.dialogue.turn(question, state, conversation.turns)
            if result.answer.action is Action.ANSWER and result.answer.citations:
                return Suggestion(
                    text=result.answer.text,
                    citations=result.answer.citations,
                    question=question,
                    intent=result.intent.label,
                    item_ids=tuple(h.item_id for h in result.hits[:3]),
                )
        lang = conversation.state.lang
        fallback = {
            "zh": "知识库中没有找到可直接引用的答案，请根据实际情况回复，或转给相关部门。",
            "en": "The knowledge base has no answer to quote; reply from your own knowledge or transfer the ticket.",
        }[lang]
        return Suggestion(text=fallback, citations=(), question=questions[0] if questions else "", intent="", item_ids=())

    def search(self, query: str, *, top_k: int = 8) -> list[SearchHit]:
        """Knowledge-base search with the assistant's own retriever."""
        from assistant.core.types import RetrievalQuery

        query = self._clean(query)
        retriever = getattr(self.assistant.dialogue, "retriever", None)
        if retriever is None:
            raise ConfigError("the dialogue engine exposes no retriever; the console search needs one")
        hits = retriever.retrieve(RetrievalQuery(text=query), top_k=top_k)
        out = []
        for h in hits:
            item = self.assistant.items.get(h.item_id)
            if item is None:
                continue
            out.append(
                SearchHit(
                    item_id=item.id,
                    name=item.name,
                    department=item.department,
                    summary=item.summary,
                    score=float(h.score),
                    online=" / ".join(x for x in (item.online.web, item.online.app) if x),
                )
            )
        return out

    def departments(self) -> list[str]:
        """Departments a ticket can be transferred to (those of the knowledge base)."""
        return sorted({i.department for i in self.assistant.items.values()} | {GENERAL_DEPARTMENT})

    # ------------------------------------------------------------------ metrics

    def metrics(self, *, since: datetime | None = None, until: datetime | None = None) -> Metrics:
        """Resolution and SLA figures for conversations and tickets created in [since, until)."""
        now = self.clock()
        until = until or now
        since = since or until - timedelta(days=30)
        conversations, tickets = self.database.reports.records(since, until)
        return compute_metrics(
            conversations,
            tickets,
            now=now,
            items=self.assistant.items,
            hours=self.hours,
            first_response_target_s=self.settings.first_response_target_s,
        )

    def _lang(self, conversation_id: str) -> Lang:
        return self.database.reports.conversation_meta([conversation_id]).get(conversation_id, (False, "zh"))[1]  # type: ignore[return-value]

    @staticmethod
    def _clean(text: str) -> str:
        text = (text or "").strip()
        if not text:
            raise InvalidInput("text is empty; write something")
        if len(text) > 4000:
            raise InvalidInput(f"text has {len(text)} characters; the limit is 4000")
        return text


def _waiting(entry: QueueEntry) -> bool:
    return entry.ticket.status == "new" or entry.lease_lapsed


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class ConversationRecord:
    """What the metrics need to know about one conversation."""

    id: str
    created_at: datetime
    last_at: datetime
    client_id: str
    #: user messages, oldest first.
    questions: tuple[str, ...]
    #: first item the bot answered or clarified about ("" if none).
    item_id: str
    negative_feedback: int
    positive_feedback: int
    ratings: tuple[int, ...]
    ticket_ids: tuple[int, ...] = ()
    #: created inside the reporting window (False: read only to spot repeat questions).
    in_window: bool = True


@dataclass(frozen=True)
class Rates:
    """Counts and rates for one slice (overall, an item, a department or a day)."""

    conversations: int = 0
    handoffs: int = 0
    handoff_rate: float | None = None
    self_service_resolved: int = 0
    self_service_unresolved: int = 0
    #: too recent to judge: a repeat question may still come within 24 h.
    self_service_pending: int = 0
    self_service_rate: float | None = None
    tickets: int = 0
    first_responses: int = 0
    first_response_p50_s: float | None = None
    first_response_p90_s: float | None = None
    #: share of first responses within the target (one minute by default).
    first_response_within_target: float | None = None
    #: tickets still without a first response whose target has passed.
    open_breaches: int = 0
    human_resolved: int = 0
    human_closed: int = 0
    human_resolution_rate: float | None = None
    ratings: int = 0
    rating_mean: float | None = None
    rating_distribution: Mapping[str, int] = field(default_factory=dict)
    thumbs_up: int = 0
    thumbs_down: int = 0


@dataclass(frozen=True)
class Metrics:
    """The whole report."""

    generated_at: datetime
    first_response_target_s: int
    overall: Rates
    handoff_reasons: Mapping[str, int]
    resolutions: Mapping[str, int]
    by_item: Mapping[str, Rates]
    by_department: Mapping[str, Rates]
    by_day: Mapping[str, Rates]
    #: names of the items in ``by_item`` (ids are the keys).
    item_names: Mapping[str, str] = field(default_factory=dict)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile by the nearest-rank method (an observed value, no interpolation)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return float(ordered[rank - 1])


def normalise_question(text: str) -> str:
    """Question text compared for "asked again": NFKC, lower case, no spaces or punctuation."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


def self_service_outcome(
    conversation: ConversationRecord, later: Iterable[ConversationRecord], now: datetime
) -> str:
    """``handoff``, ``unresolved``, ``resolved`` or ``pending`` for one conversation.

    Resolved by self-service means: no handoff, no negative feedback, and the
    same question not asked again within 24 h (in the conversation itself, or
    in a later conversation from the same browser about the same item or with
    the same question text).  Until 24 h have passed without a repeat the
    outcome is ``pending`` and stays out of the rate.
    """
    if conversation.ticket_ids:
        return "handoff"
    if conversation.negative_feedback:
        return "unresolved"
    asked = [normalise_question(q) for q in conversation.questions]
    asked = [q for q in asked if q]
    if len(asked) != len(set(asked)):
        return "unresolved"
    window_end = conversation.last_at + timedelta(hours=24)
    if conversation.client_id:
        for other in later:
            if other.id == conversation.id or other.client_id != conversation.client_id:
                continue
            if not (conversation.last_at <= other.created_at < window_end):
                continue
            same_item = bool(conversation.item_id) and other.item_id == conversation.item_id
            same_text = bool(set(asked) & {normalise_question(q) for q in other.questions})
            if same_item or same_text:
                return "unresolved"
    if now < window_end:
        return "pending"
    return "resolved"


def compute_metrics(
    conversations: Sequence[ConversationRecord],
    tickets: Sequence[Ticket],
    *,
    now: datetime,
    items: Mapping[str, ServiceItem],
    hours: WorkingHours,
    first_response_target_s: int,
) -> Metrics:
    """Every helpdesk figure from plain records (pure; see the module docstring)."""
    everything = [c for c in conversations if c.questions]
    conversations = [c for c in everything if c.in_window]
    by_client: dict[str, list[ConversationRecord]] = defaultdict(list)
    for c in everything:
        if c.client_id:
            by_client[c.client_id].append(c)
    outcome = {c.id: self_service_outcome(c, by_client.get(c.client_id, ()), now) for c in conversations}
    ticket_conversation_item = {c.id: c.item_id for c in conversations}

    def department_of_item(item_id: str) -> str:
        item = items.get(item_id)
        return item.department if item else GENERAL_DEPARTMENT

    slices_c: dict[tuple[str, str], list[ConversationRecord]] = defaultdict(list)
    slices_t: dict[tuple[str, str], list[Ticket]] = defaultdict(list)
    for c in conversations:
        keys = [("overall", ""), ("day", hours.local_date(c.created_at).isoformat())]
        keys.append(("item", c.item_id or "(none)"))
        keys.append(("department", department_of_item(c.item_id) if c.item_id else GENERAL_DEPARTMENT))
        for k in keys:
            slices_c[k].append(c)
    for t in tickets:
        item_id = t.item_ids[0] if t.item_ids else ticket_conversation_item.get(t.conversation_id, "")
        keys = [
            ("overall", ""),
            ("day", hours.local_date(t.created_at).isoformat()),
            ("item", item_id or "(none)"),
            ("department", t.department),
        ]
        for k in keys:
            slices_t[k].append(t)

    def rates(cs: Sequence[ConversationRecord], ts: Sequence[Ticket]) -> Rates:
        n = len(cs)
        handoffs = sum(1 for c in cs if outcome[c.id] == "handoff")
        resolved = sum(1 for c in cs if outcome[c.id] == "resolved")
        unresolved = sum(1 for c in cs if outcome[c.id] == "unresolved")
        pending = sum(1 for c in cs if outcome[c.id] == "pending")
        waits = [
            (t.first_response_at - t.created_at).total_seconds()
            for t in ts
            if t.first_response_at is not None and not t.callback
        ]
        breaches = sum(
            1
            for t in ts
            if t.first_response_at is None
            and not t.callback
            and t.status not in ("resolved", "closed")
            and (now - t.created_at).total_seconds() > first_response_target_s
        )
        h_resolved = sum(1 for t in ts if t.status == "resolved")
        h_closed = sum(1 for t in ts if t.status == "closed")
        all_ratings = [r for c in cs for r in c.ratings]
        return Rates(
            conversations=n,
            handoffs=handoffs,
            handoff_rate=_ratio(handoffs, n),
            self_service_resolved=resolved,
            self_service_unresolved=unresolved,
            self_service_pending=pending,
            self_service_rate=_ratio(resolved, resolved + unresolved + handoffs),
            tickets=len(ts),
            first_responses=len(waits),
            first_response_p50_s=percentile(waits, 50) if waits else None,
            first_response_p90_s=percentile(waits, 90) if waits else None,
            first_response_within_target=_ratio(sum(1 for w in waits if w <= first_response_target_s), len(waits)),
            open_breaches=breaches,
            human_resolved=h_resolved,
            human_closed=h_closed,
            human_resolution_rate=_ratio(h_resolved, h_resolved + h_closed),
            ratings=len(all_ratings),
            rating_mean=round(sum(all_ratings) / len(all_ratings), 3) if all_ratings else None,
            rating_distribution={str(k): sum(1 for r in all_ratings if r == k) for k in range(1, 6)},
            thumbs_up=sum(c.positive_feedback for c in cs),
            thumbs_down=sum(c.negative_feedback for c in cs),
        )

    def group(kind: str) -> dict[str, Rates]:
        keys = sorted({k for (g, k) in (*slices_c, *slices_t) if g == kind})
        return {k: rates(slices_c.get((kind, k), []), slices_t.get((kind, k), [])) for k in keys}

    by_item = group("item")
    return Metrics(
        generated_at=now,
        first_response_target_s=first_response_target_s,
        overall=rates(slices_c.get(("overall", ""), []), slices_t.get(("overall", ""), [])),
        handoff_reasons=dict(Counter(t.reason for t in tickets).most_common()),
        resolutions=dict(Counter(t.resolution for t in tickets if t.resolution).most_common()),
        by_item=by_item,
        by_department=group("department"),
        by_day=group("day"),
        item_names={k: items[k].name for k in by_item if k in items},
    )


def _ratio(part: int, whole: int) -> float | None:
    """part / whole rounded to 4 places, or None when there is nothing to divide (not 0)."""
    return round(part / whole, 4) if whole else None


__all__ = [
    "CANNED_REPLIES",
    "ConversationRecord",
    "EscalationRules",
    "Helpdesk",
    "Metrics",
    "QueueEntry",
    "QueueStatus",
    "Rates",
    "REASONS",
    "compute_metrics",
    "handoff_result",
    "percentile",
    "self_service_outcome",
    "WorkingHours",
]
