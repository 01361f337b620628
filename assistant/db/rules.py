"""The storage rules every backend applies, in one place.

The SQL backends (``assistant.db.store``, ``assistant.db.queue``) and the
in-memory one (``assistant.db.memory``) call these checks, so they refuse the
same inputs with the same messages; the contract suite proves they agree.
Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from assistant.core.errors import Conflict, InvalidInput, NotFound, StaleState
from assistant.core.types import (
    FINISHED_TICKET_STATUSES,
    LANGS,
    OPEN_TICKET_STATUSES,
    ConversationRecord,
    DialogueState,
    TicketStatus,
)

ROLES: tuple[str, ...] = ("user", "assistant", "agent", "system")
#: resolution codes and the final status each leads to.  ``resolved`` counts
#: towards the human resolution rate, ``closed`` does not.
RESOLUTIONS: dict[str, TicketStatus] = {
    "answered": "resolved",  # the question was answered
    "processed": "resolved",  # the matter was handled or formally accepted (受理)
    "callback_done": "resolved",  # a call-back ticket was called back and settled
    "handed_back": "resolved",  # the agent judged the bot can carry on
    "unresolved": "closed",  # the helpdesk could not solve it
    "no_response": "closed",  # the citizen left before it could be solved
    "duplicate": "closed",  # another ticket covers it
    "out_of_scope": "closed",  # not a government-service matter
}
#: longest stored feedback comment, in characters.
MAX_COMMENT_CHARS = 2000
#: longest stored anonymous browser id.
MAX_CLIENT_ID_CHARS = 64
#: a 1-5 rating at or below this counts as negative feedback in the service levels.
NEGATIVE_RATING_MAX = 2


def conversation_not_found(conversation_id: str) -> NotFound:
    return NotFound(f"conversation {conversation_id!r} does not exist; create one with POST /api/v1/conversations")


def ticket_not_found(ticket_id: int) -> NotFound:
    return NotFound(f"ticket #{ticket_id} does not exist; list tickets with GET /api/v1/helpdesk/tickets")


def check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise InvalidInput(f"language {lang!r} is not supported; use one of {', '.join(LANGS)}")


def check_message(role: str, text: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not text.strip():
        raise InvalidInput("message text is empty; write something to send")


def check_feedback(helpful: bool | None, rating: int | None) -> None:
    if helpful is None and rating is None:
        raise InvalidInput("feedback needs 'helpful' (true/false) or a 'rating' from 1 to 5")
    if rating is not None and not 1 <= rating <= 5:
        raise InvalidInput(f"rating {rating} is out of range; give 1 (very poor) to 5 (very good)")


def check_feedback_target(conversation_id: str, turn_id: int, found_in: str | None, role: str) -> None:
    """``found_in`` is the conversation the message belongs to (None: no such message)."""
    if found_in != conversation_id:
        raise NotFound(f"message {turn_id} is not part of conversation {conversation_id}")
    if role not in ("assistant", "agent"):
        raise InvalidInput(f"message {turn_id} is a {role} message; feedback is for answers")


def check_version(conversation_id: str, stored: int, expected: int | None) -> None:
    """StaleState unless ``expected`` is None (no check) or the stored version."""
    if expected is not None and expected != stored:
        raise StaleState(
            f"conversation {conversation_id} changed while this message was handled "
            f"(state version {stored}, expected {expected}); read it again and retry"
        )


def check_status(status: str | None) -> None:
    if status is not None and status not in (*OPEN_TICKET_STATUSES, *FINISHED_TICKET_STATUSES):
        raise InvalidInput(f"status {status!r} is not a ticket status")


def check_resolution(resolution: str) -> None:
    if resolution not in RESOLUTIONS:
        raise InvalidInput(f"resolution {resolution!r} is not a resolution code; use one of {', '.join(RESOLUTIONS)}")


def check_department(ticket_id: int, current: str, department: str) -> str:
    department = department.strip()
    if not department:
        raise InvalidInput("department is empty; name the department to transfer to")
    if department == current:
        raise InvalidInput(f"ticket #{ticket_id} is already with {department}; pick another department")
    return department


def agent_name(agent: str) -> str:
    """The stripped staff name; InvalidInput unless 1-64 characters."""
    agent = (agent or "").strip()
    if not agent or len(agent) > 64:
        raise InvalidInput(f"agent name {agent!r} must be 1-64 characters; send the staff member's name")
    return agent


def one_open_ticket(conversation_id: str, existing: int | None) -> None:
    if existing is not None:
        raise Conflict(
            f"conversation {conversation_id} already has open ticket #{existing}; "
            "add to that ticket instead of opening another"
        )


def check_holder(
    ticket_id: int, status: str, holder: str, lease_until: datetime | None, agent: str, now: datetime, doing: str
) -> None:
    """Conflict unless ``agent`` holds a live claim on the ticket."""
    if status in FINISHED_TICKET_STATUSES:
        raise Conflict(f"ticket #{ticket_id} is {status}; reopen it before you {doing}")
    if status == "new" or holder != agent:
        who = f"claimed by {holder}" if status != "new" else "not claimed"
        raise Conflict(f"ticket #{ticket_id} is {who}; claim it before you {doing}")
    assert lease_until is not None
    if lease_until < now:
        raise Conflict(
            f"your claim on ticket #{ticket_id} lapsed at {lease_until.isoformat()}; claim it again to {doing}"
        )


def claimable(status: str, holder: str, lease_until: datetime | None, agent: str, now: datetime) -> bool:
    """A new ticket, one whose lease lapsed, or one ``agent`` already holds (a renewal)."""
    if status == "new":
        return True
    if status in ("claimed", "answered"):
        return holder == agent or (lease_until is not None and lease_until < now)
    return False


def claim_detail(previous_status: str, previous_agent: str, agent: str) -> str:
    """The ``claimed`` event's detail: a take-over of a lapsed lease, or a renewal."""
    if previous_status != "new" and previous_agent and previous_agent != agent:
        return f"lease of {previous_agent} lapsed"
    if previous_agent == agent and previous_status != "new":
        return "renewed"
    return ""


def claim_lost(ticket_id: int, status: str, holder: str, lease_until: datetime | None) -> Conflict:
    if status in FINISHED_TICKET_STATUSES:
        return Conflict(f"ticket #{ticket_id} is {status}; reopen it before claiming")
    return Conflict(
        f"ticket #{ticket_id} is already claimed by {holder} until "
        f"{lease_until.isoformat() if lease_until else '?'}; pick another ticket"
    )


def check_reopenable(ticket_id: int, status: str, other_open: int | None) -> None:
    if status not in FINISHED_TICKET_STATUSES:
        raise Conflict(f"ticket #{ticket_id} is {status}, not finished; only resolved or closed tickets reopen")
    if other_open is not None:
        raise Conflict(f"conversation already has open ticket #{other_open}; work on that one")


def conversation_status(state: DialogueState) -> str:
    """``handed_off`` while a person owns the conversation, else ``open``."""
    return "handed_off" if state.handed_off else "open"


def handed_over(state: DialogueState, handed_off: bool) -> DialogueState:
    """The state after a ticket is resolved (False) or reopened (True).

    Handing back starts the bot afresh: earlier unresolved turns led to the handoff.
    """
    return replace(state, handed_off=handed_off, unresolved_turns=0)


class _Message(Protocol):
    role: str
    action: str
    text: str
    created_at: datetime

    @property
    def item_ids(self) -> Sequence[str]: ...


class _Feedback(Protocol):
    helpful: bool | None
    rating: int | None
    message_id: int | None


def conversation_record(
    conversation_id: str,
    created_at: datetime,
    client_id: str,
    messages: Sequence[_Message],
    feedback: Sequence[_Feedback],
    ticket_ids: Iterable[int],
    *,
    in_window: bool,
) -> ConversationRecord:
    """The service-level record of one conversation from its messages (oldest first) and feedback."""
    item_id = next(
        (m.item_ids[0] for m in messages if m.role == "assistant" and m.action in ("answer", "clarify") and m.item_ids),
        "",
    )
    return ConversationRecord(
        id=conversation_id,
        created_at=created_at,
        last_at=max([created_at, *(m.created_at for m in messages)]),
        client_id=client_id,
        questions=tuple(m.text for m in messages if m.role == "user"),
        item_id=item_id,
        negative_feedback=sum(
            1 for f in feedback if f.helpful is False or (f.rating is not None and f.rating <= NEGATIVE_RATING_MAX)
        ),
        positive_feedback=sum(1 for f in feedback if f.helpful is True),
        ratings=tuple(f.rating for f in feedback if f.rating is not None and f.message_id is None),
        ticket_ids=tuple(ticket_ids),
        in_window=in_window,
    )
