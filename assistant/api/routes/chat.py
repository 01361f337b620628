"""The citizen's side: conversations, messages, feedback, handoff, live updates."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from assistant.api.auth import issue_conversation_token, request_storage
from assistant.api.deps import AssistantDep, HelpdeskDep, request_services
from assistant.api.schemas import (
    ConversationIn,
    ConversationOut,
    FeedbackIn,
    FeedbackOut,
    HandoffIn,
    MessageIn,
    MessageOut,
    NewConversationOut,
    QueueOut,
    TicketOut,
    TurnOut,
)
from assistant.api.openapi import event_stream, schema_ref
from assistant.conversations import Exchange, IdempotentRequest
from assistant.core.errors import AlreadyRecorded, NotFound, XiaoShenError
from assistant.core.types import EventBus
from assistant.helpdesk import Helpdesk, QueueStatus
from assistant.live import EVERY_TOPIC, QUEUE_TOPIC, conversation_topic

router = APIRouter(prefix="/api/v1", tags=["chat"])

#: seconds a live stream woken by a change of the queue (not of its own conversation)
#: lets the burst settle before it reads its place in the queue.
QUEUE_SETTLE_S = 0.25
#: seconds between looks at an Idempotency-Key whose first request still runs.
IDEMPOTENCY_POLL_S = 0.05


class MessageTooLong(XiaoShenError):
    """A message above ``server.max_message_chars``: refused before any model runs."""

    code = "message_too_long"
    http_status = 413


def _guard_message(request: Request, conversation_id: str, text: str) -> None:
    """The edge checks of a message post, before the assistant sees it: length, then rate."""
    limit = request.app.state.settings.server.max_message_chars
    if len(text) > limit:
        raise MessageTooLong(
            f"message has {len(text)} characters; the limit is {limit}, shorten it or split it into several messages"
        )
    request.app.state.limits.hit_message(request, conversation_id)


@router.post("/conversations", response_model=NewConversationOut, status_code=201)
def create_conversation(body: ConversationIn, request: Request, helpdesk: HelpdeskDep) -> NewConversationOut:
    """Open a conversation (language, elder mode); limited per client (``limits.conversation_per_client``).

    The answer carries the conversation's ``token``: every later call about this
    conversation sends it as ``X-Conversation-Token`` (the event stream as ``?token=``).
    """
    request.app.state.limits.hit_conversation(request)
    conversation = helpdesk.open_conversation(lang=body.lang, elder_mode=body.elder_mode, client_id=body.client_id)
    token = issue_conversation_token(request_storage(request), conversation.id)
    return NewConversationOut(**ConversationOut.of(conversation).model_dump(), token=token)


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
def read_conversation(conversation_id: str, assistant: AssistantDep, helpdesk: HelpdeskDep) -> ConversationOut:
    """The conversation with every message, and the queue status while a person owns it."""
    conversation = assistant.store.get(conversation_id)
    queue = helpdesk.status_of(conversation_id) if conversation.state.handed_off else None
    return ConversationOut.of(conversation, queue)


class IdempotencyKeyReused(XiaoShenError):
    """An Idempotency-Key sent again with another message."""

    code = "idempotency_key_reused"
    http_status = 422


class IdempotencyInProgress(XiaoShenError):
    """The first request with this Idempotency-Key is still running."""

    code = "idempotency_in_progress"
    http_status = 409


def _claim(request: Request, conversation_id: str, key: str, fingerprint: str) -> str | None:
    """None when this request holds ``key`` now; else the stored response body of the first one.

    A retry that arrives while the first request still runs waits for it (up to
    ``limits.idempotency_wait_s``), so a client's quick retry gets the answer, not a 409.
    """
    limits = request.app.state.settings.limits
    keys = request.app.state.helpdesk.storage.idempotency
    deadline = time.monotonic() + limits.idempotency_wait_s
    while True:
        record = keys.claim(conversation_id, key, fingerprint, stale_after_s=limits.idempotency_stale_s)
        if record is None:
            return None
        _same_message(key, record.fingerprint, fingerprint)
        if record.response is not None:
            return record.response
        if time.monotonic() >= deadline:
            raise IdempotencyInProgress(
                f"the first request with Idempotency-Key {key!r} is still running; retry with the same key shortly"
            )
        time.sleep(IDEMPOTENCY_POLL_S)


def _same_message(key: str, stored: str, sent: str) -> None:
    if stored != sent:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was used for another message in this conversation; "
            "send a new key for a new message"
        )


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="a retry with the same key gets the same stored answer (the turn is stored once)",
    ),
]

#: a replayed response says so.
REPLAYED = {"Idempotent-Replayed": "true"}


def _idempotent(request: Request, conversation_id: str, key: str, text: str) -> tuple[IdempotentRequest, str | None]:
    """(the key as the assistant takes it, the stored response when this is a replay)."""
    if not request.app.state.helpdesk.exists(conversation_id):
        raise NotFound(f"conversation {conversation_id!r} does not exist")
    fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
    # the body stored with the turn has no queue status (the ticket is not committed yet when it
    # is made); the full response replaces it right after, see _complete
    render = lambda exchange: TurnOut.from_exchange(exchange).model_dump_json()  # noqa: E731
    return IdempotentRequest(key, fingerprint, render), _claim(request, conversation_id, key, fingerprint)


def _complete(request: Request, conversation_id: str, key: str, out: TurnOut) -> None:
    """Store the full response (with the queue status) over the one stored with the turn."""
    request.app.state.helpdesk.storage.idempotency.complete(conversation_id, key, out.model_dump_json())


@router.post("/conversations/{conversation_id}/messages", response_model=TurnOut)
def post_message(
    conversation_id: str,
    body: MessageIn,
    request: Request,
    assistant: AssistantDep,
    helpdesk: HelpdeskDep,
    idempotency_key: IdempotencyKey = None,
) -> TurnOut | Response:
    """Answer a message: text, citations, intent, action, options, item ids and timings.

    Refused before any model runs: a message above ``server.max_message_chars`` (413),
    too many messages for the conversation or the client (429 with Retry-After).
    With an ``Idempotency-Key`` header a retry gets the first answer again (same ids,
    no second turn, no second model run); the same key with another text gets 422.
    The key is stored in the turn's own transaction: a server killed at any moment
    leaves both or neither, so a retry never stores the message twice.
    """
    _guard_message(request, conversation_id, body.text)
    if idempotency_key is None:
        return _answer(conversation_id, body.text, request, assistant, helpdesk)
    key = idempotency_key
    idempotent, stored = _idempotent(request, conversation_id, key, body.text)
    if stored is not None:
        return Response(stored, media_type="application/json", headers=REPLAYED)
    try:
        out = _answer(conversation_id, body.text, request, assistant, helpdesk, idempotent)
    except AlreadyRecorded as done:  # a takeover of our stale claim committed first
        _same_message(key, done.fingerprint, idempotent.fingerprint)
        return Response(done.response, media_type="application/json", headers=REPLAYED)
    except BaseException:
        helpdesk.storage.idempotency.release(conversation_id, key)  # nothing was stored: a retry runs again
        raise
    _complete(request, conversation_id, key, out)
    return out


def _answer(
    conversation_id: str,
    text: str,
    request: Request,
    assistant: AssistantDep,
    helpdesk: HelpdeskDep,
    idempotency: IdempotentRequest | None = None,
) -> TurnOut:
    exchange = assistant.handle(conversation_id, text, idempotency=idempotency)
    request.state.timings_ms = dict(exchange.result.timings_ms)  # for the stage-latency histogram
    return _turn_out(exchange, helpdesk)


def _turn_out(exchange: Exchange, helpdesk: HelpdeskDep) -> TurnOut:
    handed_off = exchange.result.state.handed_off
    queue = helpdesk.status_of(exchange.conversation_id) if handed_off else None
    return TurnOut.from_exchange(exchange, queue)


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


def _replayed_stream(stored: str) -> StreamingResponse:
    """The stored turn as the stream sends it: its whole answer as one ``delta``, then ``done``."""
    answer = json.loads(stored).get("answer", "")
    events = [_sse("delta", json.dumps({"text": answer}, ensure_ascii=False)), _sse("done", stored)]
    return StreamingResponse(
        iter(events), media_type="text/event-stream", headers={"Cache-Control": "no-cache", **REPLAYED}
    )


_ERROR_DATA = {"type": "object", "required": ["error"], "properties": {"error": {"type": "object"}}}
ANSWER_STREAM = event_stream(
    "``delta`` pieces of the answer, then ``done`` with the stored turn (or ``error``)",
    {
        "delta": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
        "done": schema_ref("TurnOut"),
        "error": _ERROR_DATA,
    },
)
LIVE_EVENTS = event_stream(
    "``message`` for each new message, ``queue`` when the queue status changes (null: no open ticket)",
    {"message": schema_ref("MessageOut"), "queue": {"anyOf": [schema_ref("QueueOut"), {"type": "null"}]}},
)


@router.post("/conversations/{conversation_id}/messages/stream", response_class=StreamingResponse, responses=ANSWER_STREAM)
def post_message_stream(
    conversation_id: str,
    body: MessageIn,
    request: Request,
    assistant: AssistantDep,
    helpdesk: HelpdeskDep,
    idempotency_key: IdempotencyKey = None,
) -> StreamingResponse:
    """Answer a message as server-sent events: ``delta`` events carry pieces of
    the answer text as the generator writes them, then one ``done`` event
    carries the stored turn (the same object as the non-streaming endpoint;
    its ``answer`` is authoritative).  The same length and rate limits as above,
    and the same ``Idempotency-Key``: a retry of a stored turn gets its whole
    answer as one ``delta`` and the same ``done``; a stream cut off before
    ``done`` stored nothing, and its key is free for the retry."""
    _guard_message(request, conversation_id, body.text)
    key = idempotency_key
    idempotent: IdempotentRequest | None = None
    if key is not None:
        idempotent, stored = _idempotent(request, conversation_id, key, body.text)
        if stored is not None:
            return _replayed_stream(stored)
    keys = helpdesk.storage.idempotency
    try:
        parts = assistant.handle_stream(conversation_id, body.text, idempotency=idempotent)
        # The first piece is pulled here, so a bad message or an unknown conversation
        # becomes an ordinary JSON error before the event stream starts.
        first = next(parts)
    except BaseException:
        if key is not None:
            keys.release(conversation_id, key)
        raise

    def events() -> Iterator[str]:
        try:
            for part in itertools.chain([first], parts):
                if isinstance(part, str):
                    yield _sse("delta", json.dumps({"text": part}, ensure_ascii=False))
                else:
                    out = _turn_out(part, helpdesk)
                    if key is not None:
                        _complete(request, conversation_id, key, out)
                    yield _sse("done", out.model_dump_json())
        except AlreadyRecorded as done:  # a takeover of our stale claim committed first
            if idempotent is not None and done.fingerprint == idempotent.fingerprint:
                yield _sse("done", done.response)
            else:
                error = IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for another message meanwhile")
                yield _sse("error", json.dumps({"error": {"code": error.code, "message": str(error)}}))
        except BaseException:  # the client left, or the turn failed: nothing stored, the key is free again
            if key is not None:
                keys.release(conversation_id, key)
            raise

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post("/conversations/{conversation_id}/handoff", response_model=TurnOut)
def request_handoff(conversation_id: str, body: HandoffIn, assistant: AssistantDep, helpdesk: HelpdeskDep) -> TurnOut:
    """The citizen pressed 转人工: a ticket is opened and the bot goes silent."""
    exchange = assistant.request_human(conversation_id, body.note)
    return TurnOut.from_exchange(exchange, helpdesk.status_of(conversation_id))


@router.post("/conversations/{conversation_id}/feedback", response_model=FeedbackOut)
def post_feedback(conversation_id: str, body: FeedbackIn, helpdesk: HelpdeskDep) -> FeedbackOut:
    """Thumbs up/down on an answer, or a 1–5 rating of the conversation (好差评).

    The ``helpdesk.negative_feedback_limit``-th thumbs down (2 by default) hands it to a person.
    """
    negative, ticket = helpdesk.feedback(
        conversation_id, body.message_id, helpful=body.helpful, rating=body.rating, comment=body.comment
    )
    return FeedbackOut(stored=True, negative_count=negative, ticket=TicketOut.of(ticket) if ticket else None)


@router.post("/conversations/{conversation_id}/reopen", response_model=TicketOut)
def reopen(conversation_id: str, helpdesk: HelpdeskDep) -> TicketOut:
    """The citizen says a finished ticket did not solve the matter."""
    return TicketOut.of(helpdesk.reopen_for_citizen(conversation_id))


@router.get("/conversations/{conversation_id}/queue", response_model=QueueOut)
def queue_status(conversation_id: str, helpdesk: HelpdeskDep) -> QueueOut:
    """Place in the queue and estimated wait of the conversation's open ticket."""
    status = helpdesk.status_of(conversation_id)
    if status is None:
        if not helpdesk.exists(conversation_id):
            raise NotFound(f"conversation {conversation_id!r} does not exist")
        raise NotFound(f"conversation {conversation_id} has no open ticket; POST …/handoff asks for a person")
    return QueueOut.of(status)


@router.get("/conversations/{conversation_id}/events", response_class=StreamingResponse, responses=LIVE_EVENTS)
async def live_events(
    conversation_id: str,
    request: Request,
    helpdesk: HelpdeskDep,
    after: Annotated[int, Query(ge=0, description="last message id the client has")] = 0,
    timeout: Annotated[float, Query(ge=0.5, le=3600, description="seconds before the stream ends")] = 300,
    last_event_id: Annotated[str | None, Header()] = None,
    token: Annotated[
        str | None, Query(description="the conversation token (checked by the access table; EventSource sends no headers)")
    ] = None,
) -> StreamingResponse:
    """Server-sent events: ``message`` for each new message (agent replies arrive live), ``queue`` on changes.

    The stream ends after ``timeout`` seconds; EventSource reconnects with
    ``Last-Event-ID`` and continues where it stopped.  The stream sleeps until a
    write of its conversation or of the queue is signalled (``assistant.live``: from
    any server process) and then reads what is new from the database; without a
    signal it reads anyway every ``events.catch_up_s`` seconds (and sends a keep-alive
    comment), so a lost signal delays an update but never loses it.
    """
    if not await run_in_threadpool(helpdesk.exists, conversation_id):
        raise NotFound(f"conversation {conversation_id!r} does not exist")
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    services = request_services(request)
    bus = getattr(services, "events", None)
    catch_up_s = request.app.state.settings.events.catch_up_s

    async def stream():  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last, last_queue = after, ""
        # registered before the first read: a write committed after that read is signalled to us
        waiter = bus.waiter((conversation_topic(conversation_id), QUEUE_TOPIC)) if bus is not None else None
        own = conversation_topic(conversation_id)
        read_messages = True
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                if waiter is not None:
                    waiter.clear()  # before reading: a signal during the read wakes the next wait
                if read_messages:
                    for turn in await run_in_threadpool(helpdesk.messages_after, conversation_id, last):
                        last = turn.id
                        body = MessageOut.of(turn).model_dump_json()
                        yield f"id: {turn.id}\nevent: message\ndata: {body}\n\n"
                status = await _queue_status(request, helpdesk, bus, conversation_id)
                queue = QueueOut.of(status).model_dump_json() if status else json.dumps(None)
                if queue != last_queue:
                    last_queue = queue
                    yield f"event: queue\ndata: {queue}\n\n"
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wait_s = min(catch_up_s, remaining)
                if waiter is not None:
                    signalled = await waiter.wait(wait_s)
                else:
                    await asyncio.sleep(wait_s)
                    signalled = False
                if not signalled:
                    read_messages = True  # the catch-up read: everything, signal or not
                    if loop.time() < deadline:
                        yield ": keep-alive\n\n"
                elif not waiter.fired & {own, EVERY_TOPIC}:
                    # only the queue moved (someone else's ticket): a claim, a reply and a resolve
                    # come in a burst, and every waiting stream reads the queue, so let the burst
                    # settle and read the place in the queue once, not the messages
                    read_messages = False
                    await asyncio.sleep(QUEUE_SETTLE_S)
                    read_messages = bool(waiter.fired & {own, EVERY_TOPIC})
                else:
                    read_messages = True
        finally:
            if waiter is not None:
                waiter.close()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class QueueReadings:
    """This process's latest reading of the queue, shared by its live streams.

    A change of the queue wakes every waiting stream at once; one of them reads the
    queue (``Helpdesk.status_reader``) and the others take their place from the same
    reading, which stays current until the next queue signal reaches the process
    (``EventBus.generation``).
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._key: tuple[int, int] | None = None
        self._reader: Callable[[str], QueueStatus | None] | None = None

    async def status(self, helpdesk: Helpdesk, bus: EventBus, conversation_id: str) -> QueueStatus | None:
        async with self._lock:
            key = (id(helpdesk), bus.generation(QUEUE_TOPIC))
            if self._reader is None or self._key != key:
                self._reader = await run_in_threadpool(helpdesk.status_reader)
                self._key = key
            reader = self._reader
        return await run_in_threadpool(reader, conversation_id)


async def _queue_status(request: Request, helpdesk: Helpdesk, bus: EventBus | None, conversation_id: str) -> QueueStatus | None:
    if bus is None:
        return await run_in_threadpool(helpdesk.status_of, conversation_id)
    readings = getattr(request.app.state, "queue_readings", None)
    if readings is None:
        readings = request.app.state.queue_readings = QueueReadings()
    return await readings.status(helpdesk, bus, conversation_id)
