"""The staff console's API: the queue, claims, replies, transfer, resolve, hand back.

Agents sign in with their own accounts (the route table gives ``/api/v1/helpdesk/*``
to ``agent``; supervisors and admins act as agents too).  A ticket action is
done in the signed-in agent's name (a body's ``agent``, if sent, must be that
name), and claims, releases, transfers, resolutions, hand-backs and reopenings
are written to the audit log with the ticket before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from assistant.api.auth import Forbidden, Principal, StaffDep, audit
from assistant.api.deps import HelpdeskDep
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
from assistant.core.types import FINISHED_TICKET_STATUSES, OPEN_TICKET_STATUSES, Ticket
from assistant.db.rules import RESOLUTIONS
from assistant.helpdesk import CANNED_REPLIES, Helpdesk

router = APIRouter(prefix="/api/v1/helpdesk", tags=["helpdesk"])


def _agent(principal: Principal, named: str) -> str:
    """The acting agent: the signed-in account (a body naming someone else is refused)."""
    if named and named.strip() != principal.username:
        raise Forbidden(
            f"you are signed in as {principal.username}; act in your own name "
            f"(leave agent out or send {principal.username!r})"
        )
    return principal.username


def _view(t: Ticket) -> dict[str, object]:
    """What the audit log keeps of a ticket before and after an action."""
    return {"status": t.status, "agent": t.agent, "department": t.department, "resolution": t.resolution}


def _act(
    request: Request, principal: Principal, helpdesk: Helpdesk, action: str, ticket_id: int, run: Callable[[], Ticket]
) -> TicketOut:
    """Run a ticket action and audit it with the ticket before and after (nothing is audited if it fails)."""
    before = _view(helpdesk.storage.queue.get(ticket_id))
    after = run()
    audit(request, principal, action, f"ticket:{ticket_id}", before=before, after=_view(after))
    return TicketOut.of(after)


@router.get("/queue", response_model=list[QueueEntryOut])
def queue(helpdesk: HelpdeskDep) -> list[QueueEntryOut]:
    """Open tickets, most urgent first, with waiting time and SLA timer."""
    return [QueueEntryOut.of(e) for e in helpdesk.entries()]


@router.get("/tickets", response_model=list[TicketOut])
def tickets(
    helpdesk: HelpdeskDep,
    status: Annotated[
        str | None,
        Query(
            description="new, claimed, answered, resolved or closed",
            json_schema_extra={"enum": [*OPEN_TICKET_STATUSES, *FINISHED_TICKET_STATUSES]},
        ),
    ] = None,
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
def claim(ticket_id: int, body: AgentIn, request: Request, helpdesk: HelpdeskDep, principal: StaffDep) -> TicketOut:
    """Claim a ticket: 409 if another agent holds it."""
    agent = _agent(principal, body.agent)
    return _act(request, principal, helpdesk, "ticket.claim", ticket_id, lambda: helpdesk.claim(ticket_id, agent))


@router.post("/tickets/{ticket_id}/reply", response_model=MessageOut)
def reply(ticket_id: int, body: ReplyIn, helpdesk: HelpdeskDep, principal: StaffDep) -> MessageOut:
    """Send a reply to the citizen (appears live in their chat; the ticket's history records it)."""
    return MessageOut.of(helpdesk.reply(ticket_id, _agent(principal, body.agent), body.text))


@router.post("/tickets/{ticket_id}/release", response_model=TicketOut)
def release(ticket_id: int, body: AgentIn, request: Request, helpdesk: HelpdeskDep, principal: StaffDep) -> TicketOut:
    """Give a claimed ticket back to the queue."""
    agent = _agent(principal, body.agent)
    return _act(request, principal, helpdesk, "ticket.release", ticket_id, lambda: helpdesk.release(ticket_id, agent))


@router.post("/tickets/{ticket_id}/transfer", response_model=TicketOut)
def transfer(
    ticket_id: int, body: TransferIn, request: Request, helpdesk: HelpdeskDep, principal: StaffDep
) -> TicketOut:
    """Send the ticket to another department's queue."""
    agent = _agent(principal, body.agent)
    return _act(
        request, principal, helpdesk, "ticket.transfer", ticket_id,
        lambda: helpdesk.transfer(ticket_id, agent, body.department, body.note),
    )


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketOut)
def resolve(ticket_id: int, body: ResolveIn, request: Request, helpdesk: HelpdeskDep, principal: StaffDep) -> TicketOut:
    """Finish with a resolution code; the bot takes the conversation back."""
    agent = _agent(principal, body.agent)
    return _act(
        request, principal, helpdesk, "ticket.resolve", ticket_id,
        lambda: helpdesk.resolve(ticket_id, agent, body.resolution),
    )


@router.post("/tickets/{ticket_id}/handback", response_model=TicketOut)
def hand_back(
    ticket_id: int, body: AgentIn, request: Request, helpdesk: HelpdeskDep, principal: StaffDep
) -> TicketOut:
    """Hand the conversation back to the bot (resolution ``handed_back``)."""
    agent = _agent(principal, body.agent)
    return _act(
        request, principal, helpdesk, "ticket.handback", ticket_id, lambda: helpdesk.hand_back(ticket_id, agent)
    )


@router.post("/tickets/{ticket_id}/reopen", response_model=TicketOut)
def reopen(ticket_id: int, body: ReopenIn, request: Request, helpdesk: HelpdeskDep, principal: StaffDep) -> TicketOut:
    """Put a resolved or closed ticket back in the queue."""
    agent = _agent(principal, body.agent)
    return _act(
        request, principal, helpdesk, "ticket.reopen", ticket_id, lambda: helpdesk.reopen(ticket_id, agent, body.note)
    )


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
