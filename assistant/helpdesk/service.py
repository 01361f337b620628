"""The helpdesk service behind the staff console and the citizen's waiting view.

The queue ordered by priority, a citizen's place in it and estimated wait,
claim / reply / transfer / resolve / hand back / reopen with the notices the
citizen sees, a suggested reply drafted by the dialogue from the knowledge
base, knowledge-base search, canned replies and the service-level report.
It stands on the storage Protocols (``assistant.core.types.Storage``) and
gets everything else it uses injected by ``assistant.wiring.build_services``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from assistant.core.errors import InvalidInput, NotFound, StaleState
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import (
    GENERAL_DEPARTMENT,
    OPEN_TICKET_STATUSES,
    Action,
    Answer,
    Citation,
    Conversation,
    DialogueState,
    IntentPrediction,
    Lang,
    RetrievalQuery,
    Retriever,
    ServiceItem,
    Storage,
    Ticket,
    TicketDraft,
    TicketEvent,
    Turn,
    TurnResult,
)
from assistant.helpdesk.escalation import EscalationRules, handoff_result
from assistant.helpdesk.hours import WorkingHours
from assistant.helpdesk.service_levels import ServiceLevels, compute_service_levels, percentile

#: The dialogue's answer to a question in a state, stored nowhere (drafts suggested replies).
DraftAnswer = Callable[[str, DialogueState, Sequence[Turn]], TurnResult]
#: The ticket a handoff opens (``Assistant.ticket_draft``: department, summary, items).
TicketDrafter = Callable[[str, TurnResult, Conversation], TicketDraft]
#: times a system handoff is tried when the state keeps changing under it.
ESCALATE_ATTEMPTS = 3

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
_NO_SUGGESTION = {
    "zh": "知识库中没有找到可直接引用的答案，请根据实际情况回复，或转给相关部门。",
    "en": "The knowledge base has no answer to quote; reply from your own knowledge or transfer the ticket.",
}


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
    """The helpdesk operations behind the staff console and the citizen's waiting view.

    ``storage`` holds the conversations, the queue and the reports (any backend
    of the storage Protocols); ``items`` and ``retriever`` are the knowledge base
    and its search; ``draft_answer`` is the dialogue's answer to a question
    (nothing stored); ``ticket_draft`` and ``escalation`` open a ticket the way
    a citizen's handoff does.
    """

    def __init__(
        self,
        *,
        storage: Storage,
        settings: HelpdeskSettings,
        items: Mapping[str, ServiceItem],
        retriever: Retriever,
        draft_answer: DraftAnswer,
        ticket_draft: TicketDrafter,
        escalation: EscalationRules,
    ) -> None:
        self.storage = storage
        self.store = storage.conversations
        self.queue = storage.queue
        self.reports = storage.reports
        self.clock = storage.clock
        self.settings = settings
        self.items = dict(items)
        self.retriever = retriever
        self.draft_answer = draft_answer
        self.ticket_draft = ticket_draft
        self.escalation = escalation
        self.hours = WorkingHours(settings.working_hours, settings.timezone)

    # ------------------------------------------------------------------ conversations

    def open_conversation(self, *, lang: Lang = "zh", elder_mode: bool = False, client_id: str = "") -> Conversation:
        """Start a conversation for the web chat (with the browser's anonymous id)."""
        return self.store.create(lang=lang, elder_mode=elder_mode, client_id=client_id)

    def exists(self, conversation_id: str) -> bool:
        """Whether the conversation exists."""
        return self.store.exists(conversation_id)

    def messages_after(self, conversation_id: str, after_id: int) -> list[Turn]:
        """The conversation's messages after ``after_id`` (the citizen's live view)."""
        return self.store.messages_after(conversation_id, after_id)

    # ------------------------------------------------------------------ queue

    def score(self, ticket: Ticket, elder_mode: bool, now: datetime) -> float:
        """Serve order: seconds waited, plus a head start per priority point (elder mode, sensitive)."""
        waited = (now - (ticket.queued_at or ticket.created_at)).total_seconds()
        boost = ticket.priority + (self.settings.elder_priority if elder_mode and ticket.priority == 0 else 0)
        return waited + boost * self.settings.priority_boost_s

    def entries(self) -> list[QueueEntry]:
        """Open tickets (new, claimed, answered), most urgent first."""
        now = self.clock()
        tickets = self.queue.open_tickets()
        meta = self.reports.conversation_meta([t.conversation_id for t in tickets])
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
            out.append(QueueEntry(t, elder, lang, waited, sla, lapsed, self.score(t, elder, now)))
        out.sort(key=lambda e: (_waiting(e), e.score), reverse=True)
        return out

    def tickets(self, *, status: str | None = None) -> list[Ticket]:
        """Every ticket (optionally of one status), oldest first."""
        return self.queue.list(status=status)

    def ticket(self, ticket_id: int) -> tuple[Ticket, Conversation, list[TicketEvent]]:
        """A ticket with its conversation and its history."""
        ticket = self.queue.get(ticket_id)
        return ticket, self.store.get(ticket.conversation_id), self.queue.events(ticket_id)

    def _open_ticket(self, conversation_id: str) -> Ticket | None:
        return next((t for t in self.store.tickets_of(conversation_id) if t.status in OPEN_TICKET_STATUSES), None)

    def status_reader(self) -> Callable[[str], QueueStatus | None]:
        """``status_of`` for any number of conversations from ONE reading of the queue.

        The citizens' live streams of a server process share one reader after a
        change of the queue, instead of each reading the whole queue again.
        """
        entries = self.entries()
        waiting = [e for e in entries if _waiting(e)]
        place = {e.ticket.id: n + 1 for n, e in enumerate(waiting)}
        by_conversation = {e.ticket.conversation_id: e.ticket for e in entries}
        typical: list[float] = []  # read once, and only when someone waits

        def status(conversation_id: str) -> QueueStatus | None:
            ticket = by_conversation.get(conversation_id)
            if ticket is None:
                return None
            position = place.get(ticket.id, 0)
            if position and not typical:
                typical.append(self.typical_wait_s())
            return self._status(ticket, position, position * typical[0] if position else 0.0)

        return status

    def _status(self, open_ticket: Ticket, position: int, estimate: float) -> QueueStatus:
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

    def status_of(self, conversation_id: str) -> QueueStatus | None:
        """The citizen's open ticket with their place in the queue, or None when none is open."""
        open_ticket = self._open_ticket(conversation_id)
        if open_ticket is None:
            return None
        entries = self.entries()
        waiting = [e for e in entries if _waiting(e)]
        position = next((i + 1 for i, e in enumerate(waiting) if e.ticket.id == open_ticket.id), 0)
        estimate = position * self.typical_wait_s() if position else 0.0
        return self._status(open_ticket, position, estimate)

    def typical_wait_s(self) -> float:
        """Median first-response wait of the latest answered tickets (the target when there are none yet)."""
        waits = self.reports.recent_first_response_waits(self.settings.wait_estimate_window)
        if not waits:
            return float(self.settings.first_response_target_s)
        return percentile(waits, 50)

    # ------------------------------------------------------------------ agent actions

    def claim(self, ticket_id: int, agent: str) -> Ticket:
        """Claim a ticket (atomic, leased)."""
        return self.queue.claim(ticket_id, agent)

    def reply(self, ticket_id: int, agent: str, text: str) -> Turn:
        """Send the agent's reply to the citizen's chat."""
        text = self._clean(text)
        return self.queue.reply(ticket_id, agent, text)

    def release(self, ticket_id: int, agent: str) -> Ticket:
        """Put a claimed ticket back in the queue."""
        return self.queue.release(ticket_id, agent)

    def transfer(self, ticket_id: int, agent: str, department: str, note: str = "") -> Ticket:
        """Send the ticket to another department and tell the citizen."""
        ticket = self.queue.transfer(ticket_id, agent, department, note=note)
        lang = self._lang(ticket.conversation_id)
        self.store.add_message(ticket.conversation_id, "system", _TRANSFERRED[lang].format(department=department))
        return ticket

    def resolve(self, ticket_id: int, agent: str, resolution: str) -> Ticket:
        """Finish the ticket with a resolution code; the bot takes the conversation back."""
        ticket = self.queue.get(ticket_id)
        lang = self._lang(ticket.conversation_id)
        return self.queue.resolve(ticket_id, agent, resolution=resolution, notice=_HANDED_BACK[lang])

    def hand_back(self, ticket_id: int, agent: str) -> Ticket:
        """Give the conversation back to the bot (resolution ``handed_back``)."""
        return self.resolve(ticket_id, agent, "handed_back")

    def reopen(self, ticket_id: int, agent: str = "", note: str = "") -> Ticket:
        """Reopen a finished ticket; the citizen is told a person will answer again."""
        ticket = self.queue.reopen(ticket_id, agent, note=note)
        lang = self._lang(ticket.conversation_id)
        self.store.add_message(ticket.conversation_id, "system", _REOPENED[lang])
        return ticket

    def reopen_for_citizen(self, conversation_id: str) -> Ticket:
        """The citizen says the matter is not solved: reopen their latest finished ticket."""
        tickets = self.store.tickets_of(conversation_id)
        if not tickets:
            raise NotFound(f"conversation {conversation_id} has no ticket to reopen; ask for a person instead")
        return self.reopen(tickets[-1].id, "", note="citizen")

    # ------------------------------------------------------------------ citizen-side escalation

    def feedback(
        self,
        conversation_id: str,
        message_id: int | None,
        *,
        helpful: bool | None = None,
        rating: int | None = None,
        comment: str = "",
    ) -> tuple[int, Ticket | None]:
        """Store the citizen's judgement; the thumbs-down count and the ticket it opened, if any."""
        negative = self.store.add_feedback(
            conversation_id, message_id, helpful=helpful, rating=rating, comment=comment
        )
        return negative, self.after_feedback(conversation_id, negative)

    def after_feedback(self, conversation_id: str, negative_count: int) -> Ticket | None:
        """Hand off after the ``negative_feedback_limit``-th thumbs down in a conversation (once)."""
        if negative_count < self.settings.negative_feedback_limit:
            return None
        for attempt in range(1, ESCALATE_ATTEMPTS + 1):
            conversation = self.store.get(conversation_id)
            if conversation.state.handed_off or self._open_ticket(conversation_id) is not None:
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
            draft = self.ticket_draft(last_user, result, conversation)
            draft, result = self.escalation.route(draft, result, conversation)
            try:
                _, ticket = self.store.escalate(
                    conversation_id, result.answer, result.state, draft, expected_version=conversation.version
                )
                return ticket
            except StaleState:
                # Another writer changed the state (a message, a resolve): decide again on the fresh one.
                if attempt == ESCALATE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    # ------------------------------------------------------------------ agent helpers

    def suggest(self, ticket_id: int) -> Suggestion:
        """A reply drafted by the dialogue from the knowledge base, for the agent to edit.

        Runs the citizen's latest questions (newest first) through the
        dialogue without storing anything and returns the first real answer.
        """
        ticket = self.queue.get(ticket_id)
        conversation = self.store.get(ticket.conversation_id)
        questions = [t.text for t in reversed(conversation.turns) if t.role == "user"]
        state = replace(conversation.state, handed_off=False, unresolved_turns=0)
        for question in questions[: self.settings.suggestion_questions]:
            result = self.draft_answer(question, state, conversation.turns)
            if result.answer.action is Action.ANSWER and result.answer.citations:
                return Suggestion(
                    text=result.answer.text,
                    citations=result.answer.citations,
                    question=question,
                    intent=result.intent.label,
                    item_ids=tuple(h.item_id for h in result.hits[: self.settings.suggestion_items]),
                )
        lang = conversation.state.lang
        return Suggestion(
            text=_NO_SUGGESTION[lang], citations=(), question=questions[0] if questions else "", intent="", item_ids=()
        )

    def search(self, query: str, *, top_k: int | None = None) -> list[SearchHit]:
        """Knowledge-base search with the assistant's own retriever."""
        query = self._clean(query)
        hits = self.retriever.retrieve(RetrievalQuery(text=query), top_k=top_k or self.settings.search_top_k)
        out = []
        for h in hits:
            item = self.items.get(h.item_id)
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
        return sorted({i.department for i in self.items.values()} | {GENERAL_DEPARTMENT})

    # ------------------------------------------------------------------ service levels

    def service_levels(self, *, since: datetime | None = None, until: datetime | None = None) -> ServiceLevels:
        """Resolution and first-response figures for conversations and tickets created in [since, until)."""
        now = self.clock()
        until = until or now
        since = since or until - timedelta(days=self.settings.report_window_days)
        conversations, tickets = self.reports.records(since, until)
        return compute_service_levels(
            conversations,
            tickets,
            now=now,
            items=self.items,
            hours=self.hours,
            first_response_target_s=self.settings.first_response_target_s,
        )

    def _lang(self, conversation_id: str) -> Lang:
        return self.reports.conversation_meta([conversation_id]).get(conversation_id, (False, "zh"))[1]

    def _clean(self, text: str) -> str:
        text = (text or "").strip()
        if not text:
            raise InvalidInput("text is empty; write something")
        limit = self.settings.max_reply_chars
        if len(text) > limit:
            raise InvalidInput(f"text has {len(text)} characters; the limit is {limit}")
        return text


def _waiting(entry: QueueEntry) -> bool:
    return entry.ticket.status == "new" or entry.lease_lapsed
