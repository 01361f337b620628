"""Live updates across server processes: a write signals a topic, event streams wake.

A signal is only a topic name (``conversation:<id>`` or ``queue``): it says *that*
something changed, never *what*.  An event stream that wakes reads what changed from
the database, which stays the one source of truth, so a signal lost on the way
(a restart, Redis away for a moment) only delays an update until the stream's next
catch-up read (``events.catch_up_s``), and a client that reconnects with
``Last-Event-ID`` gets everything after it from the same read.

Backends (``assistant.wiring.make_event_bus`` picks one by ``events.url``):

- :class:`MemoryEventBus`: this process only (the embedded default: one process);
- :class:`RedisEventBus`: Redis pub/sub, one channel for every topic;
- :class:`PostgresEventBus`: PostgreSQL ``LISTEN``/``NOTIFY`` on the database itself.

Each process keeps ONE subscription (one connection) and fans signals out to its own
streams (:class:`Waiter`), so a worker holding a thousand open streams still holds one
connection to Redis.  Why Redis is the production choice is measured in
``eval/load/notify_latency.py`` and written down in docs/DEPLOY.md.

:func:`notifying` wraps a Storage so that every write of the conversation store and
the handoff queue signals its topics after it commits: the signals are sent from one
place, whoever writes (citizen's turn, agent's reply, a claim on another worker).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from assistant.core.errors import BackendUnavailable, ConfigError
from assistant.core.types import EventBus, Storage

log = logging.getLogger(__name__)

#: topic of any change of the helpdesk queue (a citizen's place in it may move).
QUEUE_TOPIC = "queue"
#: pseudo-topic that wakes every stream (after a lost subscription came back).
EVERY_TOPIC = "*"
#: Redis channel and PostgreSQL notification channel the signals travel on.
CHANNEL = "xiaoshen_events"
#: seconds between attempts to restore a lost subscription.
RECONNECT_S = 0.5


def conversation_topic(conversation_id: str) -> str:
    """The topic of one conversation's messages and state."""
    return f"conversation:{conversation_id}"


class Waiter:
    """One event stream's registration on some topics, in its event loop.

    Use: ``clear()``, then read the database, then ``await wait(timeout)``: a signal
    that arrives while the stream reads sets the flag again, so none is missed.
    """

    def __init__(self, hub: _Hub, topics: tuple[str, ...], loop: asyncio.AbstractEventLoop) -> None:
        self._hub = hub
        self.topics = topics
        self.loop = loop
        self._event = asyncio.Event()
        #: the topics signalled since the last ``clear()``.
        self.fired: set[str] = set()

    def _set(self, topic: str) -> None:
        self.fired.add(topic)
        self._event.set()

    def clear(self) -> None:
        """Forget signals seen so far (call before reading the database)."""
        self._event.clear()
        self.fired = set()

    async def wait(self, timeout: float) -> bool:
        """True when a topic was signalled within ``timeout`` seconds, else False."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Stop receiving signals."""
        self._hub.remove(self)


class _Hub:
    """This process's fan-out from topics to the waiting streams (any thread may dispatch)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = {}
        #: signals delivered to this process (observability and tests).
        self.delivered = 0
        #: signals delivered per topic (a reading of the queue is current while its count stands).
        self.counts: dict[str, int] = {}

    def add(self, topics: Iterable[str]) -> Waiter:
        waiter = Waiter(self, tuple(topics), asyncio.get_running_loop())
        with self._lock:
            for topic in waiter.topics:
                self._waiters.setdefault(topic, set()).add(waiter)
        return waiter

    def remove(self, waiter: Waiter) -> None:
        with self._lock:
            for topic in waiter.topics:
                group = self._waiters.get(topic)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._waiters[topic]

    def dispatch(self, topic: str) -> None:
        with self._lock:
            self.delivered += 1
            self.counts[topic] = self.counts.get(topic, 0) + 1
            if topic == EVERY_TOPIC:
                targets = {w for group in self._waiters.values() for w in group}
            else:
                targets = set(self._waiters.get(topic, ()))
        for waiter in targets:
            try:
                waiter.loop.call_soon_threadsafe(waiter._set, topic)
            except RuntimeError:  # the stream's loop has closed: it is gone
                self.remove(waiter)


class MemoryEventBus:
    """Signals within this process only: right for one process, wrong for several."""

    name = "memory"
    #: whether other processes see this bus's signals.
    shared = False

    def __init__(self) -> None:
        self._hub = _Hub()

    @property
    def delivered(self) -> int:
        """Signals delivered to this process's streams so far."""
        return self._hub.delivered

    def publish(self, topic: str) -> None:
        """Signal ``topic`` (after the write it announces has committed)."""
        self._hub.dispatch(topic)

    def generation(self, topic: str) -> int:
        """How many signals of ``topic`` (or for everyone) this process has received: a
        reading made while it stands is current."""
        return self._hub.counts.get(topic, 0) + self._hub.counts.get(EVERY_TOPIC, 0)

    def waiter(self, topics: Iterable[str]) -> Waiter:
        """Register the calling event loop's stream on ``topics``."""
        return self._hub.add(topics)

    async def start(self) -> None:
        """Start receiving (nothing to do in one process)."""

    async def close(self) -> None:
        """Stop receiving."""

    def ping(self) -> None:
        """Always reachable."""

    def healthy(self) -> tuple[bool, str]:
        """(ready, why not) for /readyz."""
        return True, ""


class _SharedBus:
    """What the Redis and PostgreSQL buses share: the local hub and one listening task.

    ``_listen_once`` (backend specific) subscribes and dispatches until the connection
    fails; the task then marks the bus unhealthy, waits, subscribes again and wakes every
    stream for a catch-up read (signals sent while it was away are lost, their writes
    are not).
    """

    name = "shared"
    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._hub = _Hub()
        self._task: asyncio.Task[None] | None = None
        self._listening = False
        self._error = ""
        #: publishes that failed (the write stood; streams catch up by themselves).
        self.failed_publishes = 0

    @property
    def delivered(self) -> int:
        """Signals delivered to this process's streams so far."""
        return self._hub.delivered

    def waiter(self, topics: Iterable[str]) -> Waiter:
        """Register the calling event loop's stream on ``topics``."""
        return self._hub.add(topics)

    def generation(self, topic: str) -> int:
        """How many signals of ``topic`` (or for everyone) this process has received: a
        reading made while it stands is current."""
        return self._hub.counts.get(topic, 0) + self._hub.counts.get(EVERY_TOPIC, 0)

    def publish(self, topic: str) -> None:
        """Signal ``topic`` to every process.  A failure is logged, counted and shown by
        /readyz, not raised: the write it announces has already committed, and every
        stream reads it at its next catch-up (``events.catch_up_s``)."""
        try:
            self._publish(topic)
        except Exception as e:  # the committed write must not turn into a failed request
            self.failed_publishes += 1
            self._error = f"publish failed: {e}"
            log.warning("live-update signal %r not sent (%s); streams will catch up", topic, e)

    def _publish(self, topic: str) -> None:  # pragma: no cover - per backend
        raise NotImplementedError

    async def _listen_once(self, subscribed: asyncio.Event) -> None:  # pragma: no cover - per backend
        raise NotImplementedError

    async def start(self) -> None:
        """Check the backend answers (else BackendUnavailable: start-up stops) and start
        listening; returns once subscribed, so no signal after start-up is missed."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.ping)
        except Exception as e:
            raise BackendUnavailable(
                f"cannot reach the live-update backend {redacted(self.url)}: {e}; "
                "check XS_EVENTS__URL (memory:// serves one process only)"
            ) from e
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._run(subscribed), name=f"{self.name}-event-listener")
        try:
            await asyncio.wait_for(subscribed.wait(), timeout=10)
        except asyncio.TimeoutError:
            await self.close()
            raise BackendUnavailable(
                f"the live-update backend {redacted(self.url)} answers but the subscription did not start "
                f"within 10 s ({self._error or 'no reason given'}); check XS_EVENTS__URL"
            ) from None

    async def _run(self, subscribed: asyncio.Event) -> None:
        first = True
        while True:
            try:
                await self._listen_once(subscribed)
                raise ConnectionError("subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self._listening or first:
                    log.warning("live-update subscription lost (%s); reconnecting", e)
                self._listening = False
                self._error = f"subscription lost: {e}"
                first = False
                await asyncio.sleep(RECONNECT_S)

    def _on_subscribed(self, subscribed: asyncio.Event) -> None:
        was_down = not self._listening and bool(self._error)
        self._listening = True
        self._error = ""
        subscribed.set()
        if was_down:
            # signals sent while we were away are gone: every stream reads again
            self._hub.dispatch(EVERY_TOPIC)

    async def close(self) -> None:
        """Stop listening and close connections."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        self._listening = False

    def healthy(self) -> tuple[bool, str]:
        """(ready, why not) for /readyz: subscribed and the backend answers now."""
        if not self._listening:
            return False, self._error or "not subscribed"
        try:
            self.ping()
        except Exception as e:
            return False, f"does not answer: {e}"
        return True, ""

    def ping(self) -> None:  # pragma: no cover - per backend
        raise NotImplementedError


class RedisEventBus(_SharedBus):
    """Redis pub/sub: ``PUBLISH xiaoshen_events <topic>``; every process subscribes once."""

    name = "redis"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            import redis
        except ImportError as e:
            raise ConfigError("events.url is a Redis URL but the redis package is missing; pip install 'xiaoshen[redis]'") from e
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        except ValueError as e:
            raise ConfigError(f"events.url {redacted(self.url)!r} is not a Redis URL ({e}); write redis://host:6379/0") from e

    def _publish(self, topic: str) -> None:
        self._client.publish(CHANNEL, topic)

    def ping(self) -> None:
        """Raise unless Redis answers."""
        self._client.ping()

    async def _listen_once(self, subscribed: asyncio.Event) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2, health_check_interval=5)
        try:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(CHANNEL)
            self._on_subscribed(subscribed)
            while True:
                # a timeout lets the health check run, so a silent dead connection is noticed
                message = await pubsub.get_message(timeout=5.0)
                if message is not None and message.get("type") == "message":
                    data = message["data"]
                    self._hub.dispatch(data.decode("utf-8") if isinstance(data, bytes) else str(data))
                elif message is None:
                    await pubsub.ping()
        finally:
            await client.aclose()

    async def close(self) -> None:
        await super().close()
        self._client.close()


class PostgresEventBus(_SharedBus):
    """PostgreSQL ``LISTEN``/``NOTIFY`` on the application database (no Redis needed)."""

    name = "postgres"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise ConfigError("events.url is a PostgreSQL URL but psycopg is missing; pip install 'xiaoshen[postgres]'") from e
        # psycopg's own URL form (no SQLAlchemy driver suffix)
        self._dsn = "postgresql://" + url.split("://", 1)[1]
        self._lock = threading.Lock()
        self._conn: Any = None

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=2)
        return self._conn

    def _publish(self, topic: str) -> None:
        with self._lock:
            try:
                self._connection().execute("SELECT pg_notify(%s, %s)", (CHANNEL, topic))
            except Exception:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise

    def ping(self) -> None:
        """Raise unless PostgreSQL answers."""
        with self._lock:
            try:
                self._connection().execute("SELECT 1")
            except Exception:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise

    async def _listen_once(self, subscribed: asyncio.Event) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=2)
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            self._on_subscribed(subscribed)
            while True:
                # notifies(timeout=…) returns after the timeout, so a dead connection is noticed
                async for note in conn.notifies(timeout=5.0):
                    self._hub.dispatch(note.payload)
                await conn.execute("SELECT 1")
        finally:
            await conn.close()

    async def close(self) -> None:
        await super().close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# --------------------------------------------------------------------------- storage that signals


class _Delegate:
    def __init__(self, inner: Any, bus: EventBus) -> None:
        self._inner = inner
        self._bus = bus

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _signal(self, conversation_id: str, *, queue: bool) -> None:
        # the queue first: a stream woken for its conversation then already knows the
        # queue changed and does not trust an older reading of it
        if queue:
            self._bus.publish(QUEUE_TOPIC)
        self._bus.publish(conversation_topic(conversation_id))


class NotifyingConversations(_Delegate):
    """The ConversationStore; every write signals its conversation (and the queue when a
    ticket was opened) after it committed."""

    def record_turn(self, conversation_id: str, *args: Any, **kwargs: Any) -> Any:
        user, answer, ticket = self._inner.record_turn(conversation_id, *args, **kwargs)
        self._signal(conversation_id, queue=ticket is not None)
        return user, answer, ticket

    def escalate(self, conversation_id: str, *args: Any, **kwargs: Any) -> Any:
        out = self._inner.escalate(conversation_id, *args, **kwargs)
        self._signal(conversation_id, queue=True)
        return out

    def add_message(self, conversation_id: str, *args: Any, **kwargs: Any) -> Any:
        out = self._inner.add_message(conversation_id, *args, **kwargs)
        self._signal(conversation_id, queue=False)
        return out

    def set_state(self, conversation_id: str, *args: Any, **kwargs: Any) -> Any:
        out = self._inner.set_state(conversation_id, *args, **kwargs)
        self._signal(conversation_id, queue=False)
        return out


class NotifyingQueue(_Delegate):
    """The HandoffQueue; every change of a ticket signals its conversation and the queue."""

    def _ticket(self, method: str, *args: Any, **kwargs: Any) -> Any:
        ticket = getattr(self._inner, method)(*args, **kwargs)
        self._signal(ticket.conversation_id, queue=True)
        return ticket

    def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        return self._ticket("enqueue", *args, **kwargs)

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        return self._ticket("claim", *args, **kwargs)

    def resolve(self, *args: Any, **kwargs: Any) -> Any:
        return self._ticket("resolve", *args, **kwargs)

    def release(self, *args: Any, **kwargs: Any) -> Any:
        return self._ticket("release", *args, **kwargs)

    def transfer(self, *args: Any, **kwargs: Any) -> Any:
        return self._ticket("transfer", *args, **kwargs)

    def reopen(self, *args: Any, **kwargs: Any) -> Any:
        return self._ticket("reopen", *args, **kwargs)

    def reply(self, *args: Any, **kwargs: Any) -> Any:
        turn = self._inner.reply(*args, **kwargs)
        self._signal(turn.conversation_id, queue=True)
        return turn


class NotifyingStorage:
    """A Storage whose conversation store and queue signal every write (see :func:`notifying`).

    Anything else (reports, idempotency keys, the engine, stores added later) is the
    wrapped storage's own.
    """

    def __init__(self, inner: Storage, bus: EventBus) -> None:
        self.inner = inner
        self.bus = bus
        self.conversations = NotifyingConversations(inner.conversations, bus)
        self.queue = NotifyingQueue(inner.queue, bus)

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.inner.clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def ping(self) -> None:
        """Raise if the database cannot answer."""
        self.inner.ping()

    def dispose(self) -> None:
        """Release the database's connections."""
        self.inner.dispose()


def notifying(storage: Storage, bus: EventBus) -> NotifyingStorage:
    """``storage`` with every conversation and queue write signalled on ``bus``."""
    if isinstance(storage, NotifyingStorage):
        return storage
    return NotifyingStorage(storage, bus)


def redacted(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}" if rest else url


def open_event_bus(url: str) -> EventBus:
    """The bus ``url`` names: ``memory://``, ``redis://…``/``rediss://…`` or ``postgresql://…``.

    Cheap: nothing connects until ``start()``; an unknown scheme is a ConfigError.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if url == "memory://":
        return MemoryEventBus()
    if scheme in ("redis", "rediss", "unix"):
        return RedisEventBus(url)
    if scheme.startswith("postgres"):
        return PostgresEventBus(url)
    raise ConfigError(
        f"events.url {redacted(url)!r} names no live-update backend; use memory:// (one process), "
        "redis://host:6379/0 or postgresql://user@host/db (XS_EVENTS__URL)"
    )
