"""The staff console's API: the queue, claims, replies, transfer, resolve, hand back.

Agents sign in with their own accounts (the route table gives ``/api/v1/helpdesk/*``
to ``agent``; supervisors and admins act as agents too).  A ticket action is
done in the signed-in agent's name (a body's ``agent``, if sent, must be that
name), and claims, releases, transfers, resolutions, hand-backs and reopenings
are written to the audit log with the ticket before and after.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from assistant.api.auth import Forbidden, Principal, StaffDep, audit
from assistant.api.openapi import event_stream, schema_ref
from assistant.api.deps import HelpdeskDep, request_services
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
from assistant.live import QUEUE_TOPIC, conversation_topic

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


STAFF_EVENTS = event_stream(
    "``queue`` (the open tickets) on changes, ``ticket`` and ``message`` of the followed ticket",
    {
        "queue": {"type": "array", "items": schema_ref("QueueEntryOut")},
        "ticket": schema_ref("TicketOut"),
        "message": schema_ref("MessageOut"),
    },
)


@router.get("/events", response_class=StreamingResponse, responses=STAFF_EVENTS)
async def staff_events(
    request: Request,
    helpdesk: HelpdeskDep,
    ticket: Annotated[int | None, Query(ge=1, description="also follow this ticket and its conversation")] = None,
    after: Annotated[int, Query(ge=0, description="last message id the console has of the ticket's conversation")] = 0,
    timeout: Annotated[float, Query(ge=0.5, le=3600, description="seconds before the stream ends")] = 300,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events for the console, from whichever worker wrote the change:
    ``queue`` (the queue, as ``GET /queue``) whenever it changes; with ``ticket``, also
    ``ticket`` (the ticket) when it changes and ``message`` for each new message of its
    conversation (ids continue after ``after`` / ``Last-Event-ID``).

    Like the citizens' stream it sleeps until a change is signalled
    (``assistant.live``) and reads the database then, and every ``events.catch_up_s``.
    """
    conversation_id = (await run_in_threadpool(helpdesk.queue.get, ticket)).conversation_id if ticket else None
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    bus = getattr(request_services(request), "events", None)
    catch_up_s = request.app.state.settings.events.catch_up_s
    topics = (QUEUE_TOPIC, *((conversation_topic(conversation_id),) if conversation_id else ()))

    def read(last: int) -> tuple[str, str, list[MessageOut]]:
        queue = json.dumps([QueueEntryOut.of(e).model_dump(mode="json") for e in helpdesk.entries()], ensure_ascii=False)
        if ticket is None or conversation_id is None:
            return queue, "", []
        current = TicketOut.of(helpdesk.queue.get(ticket)).model_dump_json()
        return queue, current, [MessageOut.of(t) for t in helpdesk.messages_after(conversation_id, last)]

    async def stream():  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last, last_queue, last_ticket = after, "", ""
        waiter = bus.waiter(topics) if bus is not None else None
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                if waiter is not None:
                    waiter.clear()
                queue, current, messages = await run_in_threadpool(read, last)
                if queue != last_queue:
                    last_queue = queue
                    yield f"event: queue\ndata: {queue}\n\n"
                if current and current != last_ticket:
                    last_ticket = current
                    yield f"event: ticket\ndata: {current}\n\n"
                for message in messages:
                    last = message.id
                    yield f"id: {message.id}\nevent: message\ndata: {message.model_dump_json()}\n\n"
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                if waiter is not None:
                    signalled = await waiter.wait(min(catch_up_s, remaining))
                else:
                    await asyncio.sleep(min(catch_up_s, remaining))
                    signalled = False
                if not signalled and loop.time() < deadline:
                    yield ": keep-alive\n\n"
        finally:
            if waiter is not None:
                waiter.close()

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
