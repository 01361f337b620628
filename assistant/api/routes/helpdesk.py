"""The staff console's API: the queue, claims, replies, transfer, resolve, hand back.

Staff authenticate with one shared token (``helpdesk.staff_token``, header
``X-Staff-Token``) and name themselves in each request; per-person accounts
belong to the organisation's single sign-on proxy in front of the console.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from assistant.api.deps import HelpdeskDep, require_staff
from assistant.api.schemas import (
    AgentIn,
    ConversationOut,
    MessageOut,
    QueueEntryOut,
    ReopenIn,
    ReplyIn,
    ResolveIn,
    SearchHitOut,
    SuggestionOut,
    TicketDetailOut,
    TicketEventOut,
    TicketOut,
    TransferIn,
)
from assistant.db.rules import RESOLUTIONS
from assistant.helpdesk import CANNED_REPLIES

router = APIRouter(prefix="/api/v1/helpdesk", tags=["helpdesk"], dependencies=[Depends(require_staff)])


@router.get("/queue", response_model=list[QueueEntryOut])
def queue(helpdesk: HelpdeskDep) -> list[QueueEntryOut]:
    """Open tickets, most urgent first, with waiting time and SLA timer."""
    return [QueueEntryOut.of(e) for e in helpdesk.entries()]


@router.get("/tickets", response_model=list[TicketOut])
def tickets(
    helpdesk: HelpdeskDep,
    status: Annotated[str | None, Query(description="new, claimed, answered, resolved or closed")] = None,
) -> list[TicketOut]:
    """Every ticket (optionally of one status), oldest first."""
    return [TicketOut.of(t) for t in helpdesk.tickets(status=status)]


@router.get("/tickets/{ticket_id}", response_model=TicketDetailOut)
def ticket(ticket_id: int, helpdesk: HelpdeskDep) -> TicketDetailOut:
    """A ticket with its conversation (transcript and summary) and history."""
    t, conversation, events = helpdesk.ticket(ticket_id)
    return TicketDetailOut(
        ticket=TicketOut.of(t),
        conversation=ConversationOut.of(conversation),
        events=[TicketEventOut(kind=e.kind, agent=e.agent, detail=e.detail, created_at=e.created_at) for e in events],
    )


@router.post("/tickets/{ticket_id}/claim", response_model=TicketOut)
def claim(ticket_id: int, body: AgentIn, helpdesk: HelpdeskDep) -> TicketOut:
    """Claim a ticket: 409 if another agent holds it."""
    return TicketOut.of(helpdesk.claim(ticket_id, body.agent))


@router.post("/tickets/{ticket_id}/reply", response_model=MessageOut)
def reply(ticket_id: int, body: ReplyIn, helpdesk: HelpdeskDep) -> MessageOut:
    """Send a reply to the citizen (appears live in their chat)."""
    return MessageOut.of(helpdesk.reply(ticket_id, body.agent, body.text))


@router.post("/tickets/{ticket_id}/release", response_model=TicketOut)
def release(ticket_id: int, body: AgentIn, helpdesk: HelpdeskDep) -> TicketOut:
    """Give a claimed ticket back to the queue."""
    return TicketOut.of(helpdesk.release(ticket_id, body.agent))


@router.post("/tickets/{ticket_id}/transfer", response_model=TicketOut)
def transfer(ticket_id: int, body: TransferIn, helpdesk: HelpdeskDep) -> TicketOut:
    """Send the ticket to another department's queue."""
    return TicketOut.of(helpdesk.transfer(ticket_id, body.agent, body.department, body.note))


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketOut)
def resolve(ticket_id: int, body: ResolveIn, helpdesk: HelpdeskDep) -> TicketOut:
    """Finish with a resolution code; the bot takes the conversation back."""
    return TicketOut.of(helpdesk.resolve(ticket_id, body.agent, body.resolution))


@router.post("/tickets/{ticket_id}/handback", response_model=TicketOut)
def hand_back(ticket_id: int, body: AgentIn, helpdesk: HelpdeskDep) -> TicketOut:
    """Hand the conversation back to the bot (resolution ``handed_back``)."""
    return TicketOut.of(helpdesk.hand_back(ticket_id, body.agent))


@router.post("/tickets/{ticket_id}/reopen", response_model=TicketOut)
def reopen(ticket_id: int, body: ReopenIn, helpdesk: HelpdeskDep) -> TicketOut:
    """Put a resolved or closed ticket back in the queue."""
    return TicketOut.of(helpdesk.reopen(ticket_id, body.agent, body.note))


@router.get("/tickets/{ticket_id}/suggestion", response_model=SuggestionOut)
def suggestion(ticket_id: int, helpdesk: HelpdeskDep) -> SuggestionOut:
    """A reply drafted from the knowledge base, for the agent to edit."""
    return SuggestionOut.of(helpdesk.suggest(ticket_id))


@router.get("/search", response_model=list[SearchHitOut])
def search(helpdesk: HelpdeskDep, q: Annotated[str, Query(min_length=1, max_length=200)]) -> list[SearchHitOut]:
    """Search the knowledge base."""
    return [SearchHitOut.of(h) for h in helpdesk.search(q)]


@router.get("/canned", response_model=list[str])
def canned(lang: Literal["zh", "en"] = "zh") -> list[str]:
    """Canned replies."""
    return list(CANNED_REPLIES[lang])


@router.get("/resolutions", response_model=dict[str, str])
def resolutions() -> dict[str, str]:
    """Resolution codes and the status each leads to."""
    return dict(RESOLUTIONS)


@router.get("/departments", response_model=list[str])
def departments(helpdesk: HelpdeskDep) -> list[str]:
    """Departments a ticket can be transferred to."""
    return helpdesk.departments()
