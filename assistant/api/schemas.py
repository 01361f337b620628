"""HTTP bodies: pydantic at the edge, converted from the core's frozen dataclasses."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.core.types import Citation, Conversation, Option, Ticket, Turn
from assistant.db.rules import RESOLUTIONS

if TYPE_CHECKING:
    from assistant.helpdesk import QueueEntry, QueueStatus, SearchHit, Suggestion
    from assistant.conversations import Exchange


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    # from_attributes: a response body is read straight off the core dataclass
    # (Ticket, QueueStatus) instead of copying it field by field.
    model_config = ConfigDict(frozen=True, from_attributes=True)


# --------------------------------------------------------------------------- requests


class ConversationIn(_In):
    """Open a conversation."""

    lang: Literal["zh", "en"] = "zh"
    elder_mode: bool = False
    #: anonymous browser id (local storage); lets the metrics spot a question asked again.
    client_id: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_-]*$")


class MessageIn(_In):
    """A citizen's message.  The length cap is a setting (413 above it); an empty text, or
    one of only spaces and invisible characters, gets 422 ``invalid_input`` with an example."""

    text: str


class FeedbackIn(_In):
    """Thumbs up/down on an answer (``message_id``), or a 1–5 rating (好差评) of the conversation."""

    # one of the two is needed (rules.check_feedback): the schema says so too
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["helpful"], "properties": {"helpful": {"type": "boolean"}}},
                {"required": ["rating"], "properties": {"rating": {"type": "integer"}}},
            ]
        },
    )

    message_id: int | None = None
    helpful: bool | None = None
    rating: int | None = Field(None, ge=1, le=5)
    comment: str = Field("", max_length=2000)


class HandoffIn(_In):
    """The citizen asks for a person; ``note`` is optional text to pass on."""

    note: str = Field("", max_length=2000)


class AgentIn(_In):
    """An agent acting on a ticket.

    The agent is the signed-in account; ``agent`` may be left out, and if sent
    it must be that account's username (403 otherwise): no one acts in another's name.
    """

    agent: str = Field("", max_length=64)


class ReplyIn(AgentIn):
    text: str = Field(..., min_length=1, max_length=4000)


class ResolveIn(AgentIn):
    #: one of GET /api/v1/helpdesk/resolutions (the handler names them on a wrong one).
    resolution: str = Field(..., min_length=1, max_length=32, json_schema_extra={"enum": list(RESOLUTIONS)})


class TransferIn(AgentIn):
    department: str = Field(..., min_length=1, max_length=128)
    note: str = Field("", max_length=500)


class ReopenIn(_In):
    agent: str = Field("", max_length=64)
    note: str = Field("", max_length=500)


# --------------------------------------------------------------------------- responses


class CitationOut(_Out):
    item_id: str
    item_name: str
    field: str
    updated: date

    @classmethod
    def of(cls, c: Citation) -> CitationOut:
        return cls(item_id=c.item_id, item_name=c.item_name, field=c.field, updated=c.updated)


class OptionOut(_Out):
    label: str
    value: str
    item_id: str = ""
    situation: str = ""
    #: a checklist row of the policy check-up: ticked with others, sent together.
    toggle: bool = False

    @classmethod
    def of(cls, o: Option) -> OptionOut:
        return cls(label=o.label, value=o.value, item_id=o.item_id, situation=o.situation, toggle=o.toggle)


class TicketOut(_Out):
    """A ticket (the citizen sees the same fields as the staff)."""

    id: int
    conversation_id: str
    status: str
    reason: str
    department: str
    summary: str
    item_ids: list[str]
    priority: int
    callback: bool
    agent: str
    created_at: datetime
    queued_at: datetime | None
    lease_until: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    resolution: str

    @classmethod
    def of(cls, t: Ticket) -> TicketOut:
        return cls.model_validate(t)


class QueueOut(_Out):
    """The citizen's place in the helpdesk queue."""

    ticket_id: int
    status: str
    position: int
    estimated_wait_s: float
    callback: bool
    working_hours: str
    desk_open: bool
    agent: str

    @classmethod
    def of(cls, q: QueueStatus) -> QueueOut:
        return cls.model_validate(q)


class MessageOut(_Out):
    """A stored message of a conversation."""

    id: int
    role: str
    text: str
    created_at: datetime
    intent: str = ""
    action: str = ""
    item_ids: list[str] = []
    citations: list[CitationOut] = []
    options: list[OptionOut] = []

    @classmethod
    def of(cls, t: Turn) -> MessageOut:
        return cls(
            id=t.id,
            role=t.role,
            text=t.text,
            created_at=t.created_at,
            intent=t.intent,
            action=t.action,
            item_ids=list(t.item_ids),
            citations=[CitationOut.of(c) for c in t.citations],
            options=[OptionOut.of(o) for o in t.options],
        )


class TurnOut(_Out):
    """The answer to one message, with how it was reached."""

    conversation_id: str
    message_id: int
    user_message_id: int
    answer: str
    lang: str
    action: str
    intent: str
    intent_confidence: float
    #: every consult aspect the message asks (fee, time_limit…), beside the primary intent.
    aspects: list[str] = []
    #: the message asks yes or no (能不能…, Can I…?).
    yes_no: bool = False
    citations: list[CitationOut]
    options: list[OptionOut]
    item_ids: list[str]
    timings_ms: dict[str, float]
    handoff_reason: str
    generator: str
    ticket: TicketOut | None = None
    queue: QueueOut | None = None

    @classmethod
    def from_exchange(cls, exchange: Exchange, queue: QueueStatus | None = None) -> TurnOut:
        """The response body of a handled message (also ``xiaoshen ask --json``)."""
        r = exchange.result
        return cls(
            conversation_id=exchange.conversation_id,
            message_id=exchange.assistant_turn.id,
            user_message_id=exchange.user_turn.id,
            answer=r.answer.text,
            lang=r.answer.lang,
            action=r.answer.action.value,
            intent=r.intent.label,
            intent_confidence=round(float(r.intent.confidence), 4),
            aspects=list(r.aspects.aspects),
            yes_no=r.aspects.yes_no,
            citations=[CitationOut.of(c) for c in r.answer.citations],
            options=[OptionOut.of(o) for o in r.answer.options],
            item_ids=[h.item_id for h in r.hits],
            timings_ms={k: round(float(v), 2) for k, v in r.timings_ms.items()},
            handoff_reason=r.handoff_reason,
            generator=r.answer.generator,
            ticket=TicketOut.of(exchange.ticket) if exchange.ticket else None,
            queue=QueueOut.of(queue) if queue else None,
        )


class ConversationOut(_Out):
    """A conversation with its messages and, while a person owns it, the queue status."""

    id: str
    lang: str
    elder_mode: bool
    status: str
    handed_off: bool
    current_item: str
    created_at: datetime
    messages: list[MessageOut]
    queue: QueueOut | None = None

    @classmethod
    def of(cls, c: Conversation, queue: QueueStatus | None = None) -> ConversationOut:
        return cls(
            id=c.id,
            lang=c.lang,
            elder_mode=c.elder_mode,
            status=c.status,
            handed_off=c.state.handed_off,
            current_item=c.state.current_item,
            created_at=c.created_at,
            messages=[MessageOut.of(t) for t in c.turns],
            queue=QueueOut.of(queue) if queue else None,
        )


class NewConversationOut(ConversationOut):
    """A new conversation and its citizen token: shown once, sent back as
    ``X-Conversation-Token`` on every call about this conversation."""

    token: str


class FeedbackOut(_Out):
    stored: bool
    #: thumbs down and 1–2 ratings in this conversation so far.
    negative_count: int
    #: the ticket opened because of repeated negative feedback, if any.
    ticket: TicketOut | None = None


class QueueEntryOut(_Out):
    ticket: TicketOut
    elder_mode: bool
    lang: str
    waiting_s: float
    sla_remaining_s: float | None
    lease_lapsed: bool
    score: float

    @classmethod
    def of(cls, e: QueueEntry) -> QueueEntryOut:
        return cls(
            ticket=TicketOut.of(e.ticket),
            elder_mode=e.elder_mode,
            lang=e.lang,
            waiting_s=round(e.waiting_s, 1),
            sla_remaining_s=None if e.sla_remaining_s is None else round(e.sla_remaining_s, 1),
            lease_lapsed=e.lease_lapsed,
            score=round(e.score, 1),
        )


class TicketEventOut(_Out):
    kind: str
    agent: str
    detail: str
    created_at: datetime


class TicketDetailOut(_Out):
    """A ticket with its conversation and history, for the console."""

    ticket: TicketOut
    conversation: ConversationOut
    events: list[TicketEventOut]


class SuggestionOut(_Out):
    text: str
    citations: list[CitationOut]
    question: str
    intent: str
    item_ids: list[str]

    @classmethod
    def of(cls, s: Suggestion) -> SuggestionOut:
        return cls(
            text=s.text,
            citations=[CitationOut.of(c) for c in s.citations],
            question=s.question,
            intent=s.intent,
            item_ids=list(s.item_ids),
        )


class SearchHitOut(_Out):
    item_id: str
    name: str
    department: str
    summary: str
    score: float
    online: str

    @classmethod
    def of(cls, h: SearchHit) -> SearchHitOut:
        return cls(
            item_id=h.item_id, name=h.name, department=h.department, summary=h.summary, score=h.score, online=h.online
        )


class ErrorBody(_Out):
    code: str
    message: str


class ErrorOut(_Out):
    """Every error response: ``{"error": {"code", "message"}}``."""

    error: ErrorBody


# --------------------------------------------------------------------------- revealing a masked number


class RevealIn(_In):
    """Why the number is needed (kept in the audit log)."""

    reason: str = Field(..., min_length=4, max_length=200, description="e.g. 按预约回拨市民手机 / call back as agreed")


class RevealOut(_Out):
    """The message as the citizen typed it."""

    message_id: int
    text: str
    #: the kinds of personal data the masked copy hid (resident_id, mobile…).
    kinds: list[str]
