"""Live updates by signal: every backend wakes streams of other processes; nothing is lost."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.core.errors import ConfigError
from assistant.core.settings import DatabaseSettings, EventsSettings, HelpdeskSettings, LimitsSettings
from assistant.db import open_storage
from assistant.live import (
    QUEUE_TOPIC,
    MemoryEventBus,
    NotifyingStorage,
    PostgresEventBus,
    RedisEventBus,
    conversation_topic,
    notifying,
    open_event_bus,
)
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import citizen_headers, keep_conversation_tokens, sign_in, staff_client
from tests.storage_backends import fresh_postgres_database
from tests.workers import tiny_settings


def _bus_pair(kind: str, request: pytest.FixtureRequest) -> tuple[object, object]:
    """Two buses on one backend, as two server processes would hold them."""
    if kind == "redis":
        url = request.getfixturevalue("redis_server")
        return RedisEventBus(url), RedisEventBus(url)
    url = fresh_postgres_database(request.getfixturevalue("postgres_server"))
    return PostgresEventBus(url), PostgresEventBus(url)


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_a_signal_published_by_one_process_wakes_a_stream_of_another(kind: str, request: pytest.FixtureRequest) -> None:
    writer, reader = _bus_pair(kind, request)

    async def scenario() -> list[float]:
        await writer.start()
        await reader.start()
        try:
            waiter = reader.waiter([conversation_topic("c1")])
            other = reader.waiter([conversation_topic("c2")])
            latencies = []
            for _ in range(20):
                waiter.clear()
                other.clear()
                sent = time.perf_counter()
                # published from a worker thread, as the storage wrapper does after a commit
                await asyncio.get_running_loop().run_in_executor(None, writer.publish, conversation_topic("c1"))
                assert await waiter.wait(5), "signal not delivered"
                latencies.append(time.perf_counter() - sent)
            assert not await other.wait(0.2), "a stream of another conversation was woken"
            waiter.close()
            other.close()
            return latencies
        finally:
            await writer.close()
            await reader.close()

    latencies = asyncio.run(scenario())
    assert sorted(latencies)[len(latencies) // 2] < 0.5


def test_memory_bus_wakes_streams_in_its_own_process_only() -> None:
    bus = MemoryEventBus()

    async def scenario() -> None:
        waiter = bus.waiter([QUEUE_TOPIC])
        threading.Thread(target=bus.publish, args=(QUEUE_TOPIC,)).start()
        assert await waiter.wait(2)
        waiter.clear()
        assert not await waiter.wait(0.05)
        waiter.close()

    asyncio.run(scenario())
    assert bus.healthy() == (True, "") and not bus.shared


def test_unknown_or_unreachable_event_backends_stop_start_up() -> None:
    with pytest.raises(ConfigError, match="XS_EVENTS__URL"):
        open_event_bus("kafka://somewhere")
    bus = open_event_bus("redis://127.0.0.1:1/0")  # nothing listens on port 1

    async def start() -> None:
        await bus.start()

    with pytest.raises(ConfigError, match="cannot reach the live-update backend"):
        asyncio.run(start())


def test_a_lost_redis_subscription_reports_not_ready_and_recovers_by_itself(redis_process) -> None:  # type: ignore[no-untyped-def]
    from eval.load.servers import start_redis

    bus = RedisEventBus(redis_process.url)
    port = redis_process.port

    async def scenario() -> None:
        nonlocal redis_process
        await bus.start()
        waiter = bus.waiter([conversation_topic("c")])
        assert bus.healthy()[0]
        redis_process.stop()
        deadline = time.monotonic() + 15
        while bus.healthy()[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not bus.healthy()[0], "a dead Redis still reported healthy"
        bus.publish(conversation_topic("c"))  # a write while Redis is away: not raised, counted
        assert bus.failed_publishes >= 1
        waiter.clear()
        redis_process = start_redis(port)
        deadline = time.monotonic() + 15
        while not bus.healthy()[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert bus.healthy()[0], "the subscription did not come back"
        # the signals lost meanwhile are made up for: every stream is woken for a catch-up read
        assert await waiter.wait(2)
        waiter.clear()
        await asyncio.get_running_loop().run_in_executor(None, bus.publish, conversation_topic("c"))
        assert await waiter.wait(2)
        waiter.close()
        await bus.close()

    try:
        asyncio.run(scenario())
    finally:
        redis_process.stop()


def test_every_write_signals_its_conversation_and_the_queue() -> None:
    published: list[str] = []

    class Recorder(MemoryEventBus):
        def publish(self, topic: str) -> None:
            published.append(topic)

    storage = notifying(open_storage("memory://", helpdesk=HelpdeskSettings()), Recorder())
    assert isinstance(storage, NotifyingStorage) and notifying(storage, Recorder()) is storage
    cid = storage.conversations.create().id
    conv, queue = conversation_topic(cid), QUEUE_TOPIC
    storage.conversations.add_message(cid, "system", "你好")
    assert published == [conv]
    ticket = storage.queue.enqueue(cid, reason="user_request", department="上海市公安局", summary="s")
    assert published[-2:] == [queue, conv]
    published.clear()
    storage.queue.claim(ticket.id, "王")
    storage.queue.reply(ticket.id, "王", "您好")
    storage.queue.resolve(ticket.id, "王", resolution="answered")
    assert published == [queue, conv] * 3  # the queue first (see NotifyingQueue)
    published.clear()
    storage.conversations.get(cid)
    storage.queue.list()
    assert published == []  # reads signal nothing


@pytest.fixture
def live_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    from assistant.api.app import create_app
    from assistant.wiring import build_services

    # a catch-up of 5 minutes: within the test only a signal can deliver an update
    settings = tiny_settings(
        tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'x.db'}"),
        limits=LimitsSettings(enabled=False),
        events=EventsSettings(catch_up_s=300),
    )
    services = build_services(settings, items=tiny_items(), embedder=KeywordEmbedder())
    return create_app(settings, services=services), services


def _read_events(client: TestClient, path: str, want: int, headers: dict[str, str] | None = None) -> list[tuple[str, str, float]]:
    """(id, event, seconds since the request) of the first ``want`` message events."""
    got: list[tuple[str, str, float]] = []
    started = time.monotonic()
    with client.stream("GET", path, headers=headers or {}) as r:
        assert r.status_code == 200
        current_id, event = "", ""
        for line in r.iter_lines():
            if line.startswith("id: "):
                current_id = line[4:]
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "message":
                got.append((current_id, line[6:], time.monotonic() - started))
                if len(got) >= want:
                    break
    return got


def test_an_agent_reply_reaches_the_open_stream_at_once_and_a_reconnect_loses_nothing(live_app) -> None:  # type: ignore[no-untyped-def]
    app, services = live_app
    with keep_conversation_tokens(staff_client(app)) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        ticket = client.post(f"/api/v1/conversations/{cid}/handoff", json={}).json()["ticket"]["id"]
        sign_in(client, "agent", username="王")
        assert client.post(f"/api/v1/helpdesk/tickets/{ticket}/claim", json={}).status_code == 200
        first = services.storage.conversations.get(cid).turns[-1].id

        def reply_later() -> None:
            time.sleep(0.5)
            services.helpdesk.storage.queue.reply(ticket, "王", "这是人工回复")

        threading.Thread(target=reply_later).start()
        events = _read_events(client, f"/api/v1/conversations/{cid}/events?after={first}&timeout=20", 1)
        assert len(events) == 1 and "这是人工回复" in events[0][1]
        assert events[0][2] < 5, "the reply waited for a poll, not a signal"
        # two more replies while the citizen is away; the reconnect with Last-Event-ID gets exactly them
        services.helpdesk.storage.queue.reply(ticket, "王", "第二条")
        services.helpdesk.storage.queue.reply(ticket, "王", "第三条")
        again = _read_events(
            client, f"/api/v1/conversations/{cid}/events?timeout=5", 2, headers={"Last-Event-ID": events[0][0]}
        )
        assert ["第二条" in again[0][1], "第三条" in again[1][1]] == [True, True]
        assert int(again[0][0]) > int(events[0][0])


def test_rate_limits_are_counted_together_by_every_process(tmp_path: Path, redis_server: str) -> None:
    from assistant.api.app import create_app
    from assistant.wiring import build_services

    settings = tiny_settings(
        tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'x.db'}"),
        limits=LimitsSettings(storage_url=redis_server, message_per_conversation="3/minute"),
    )
    apps = [
        create_app(settings, services=build_services(settings, items=tiny_items(), embedder=KeywordEmbedder()))
        for _ in range(2)
    ]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        conversation = a.post("/api/v1/conversations", json={}).json()
        cid, headers = conversation["id"], citizen_headers(conversation)
        codes = [
            c.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照"}, headers=headers).status_code
            for c in (a, b, a, b)
        ]
        assert codes == [200, 200, 200, 429]
        assert a.get("/readyz").json()["checks"]["limits"] == "ok"


def test_with_redis_away_messages_still_go_through_and_readiness_says_why(tmp_path: Path, redis_process) -> None:  # type: ignore[no-untyped-def]
    from assistant.api.app import create_app
    from assistant.wiring import build_services

    settings = tiny_settings(
        tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'x.db'}"),
        limits=LimitsSettings(storage_url=redis_process.url),
        events=EventsSettings(url=redis_process.url),
    )
    app = create_app(settings, services=build_services(settings, items=tiny_items(), embedder=KeywordEmbedder()))
    with keep_conversation_tokens(TestClient(app)) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        assert client.get("/readyz").status_code == 200
        redis_process.stop()
        # the write commits and is answered; its signal and its count are what is missed
        r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照"})
        assert r.status_code == 200, r.text
        assert app.state.limits.storage_errors >= 1
        deadline = time.monotonic() + 15
        ready = client.get("/readyz")
        while ready.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            ready = client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["events"].startswith("unavailable") and body["checks"]["limits"].startswith("unavailable")


def test_waiting_streams_share_one_reading_of_the_queue_until_it_changes(live_app) -> None:  # type: ignore[no-untyped-def]
    from assistant.api.routes.chat import QueueReadings

    app, services = live_app
    helpdesk, bus = services.helpdesk, services.events
    cids = [services.storage.conversations.create().id for _ in range(3)]
    tickets = [helpdesk.storage.queue.enqueue(c, reason="user_request", department="上海市公安局", summary="s") for c in cids]
    reads = 0
    original = helpdesk.status_reader

    def counting():  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        return original()

    helpdesk.status_reader = counting  # type: ignore[method-assign]
    readings = QueueReadings()

    async def scenario() -> list[int]:
        first = [(await readings.status(helpdesk, bus, c)).position for c in cids]  # type: ignore[union-attr]
        # an agent takes the head of the queue: the signal makes the next reading a new one
        helpdesk.storage.queue.claim(tickets[0].id, "王")
        await asyncio.sleep(0.05)
        second = [(await readings.status(helpdesk, bus, c)).position for c in cids]  # type: ignore[union-attr]
        return first + second

    assert asyncio.run(scenario()) == [1, 2, 3, 0, 1, 2]
    assert reads == 2  # one reading per change, whatever the number of streams


def test_every_bus_is_an_event_bus() -> None:
    from assistant.core.types import EventBus

    for bus in (MemoryEventBus(), RedisEventBus("redis://127.0.0.1:1/0"), PostgresEventBus("postgresql://x@127.0.0.1:1/db")):
        assert isinstance(bus, EventBus), type(bus).__name__


def test_the_console_stream_shows_queue_and_ticket_changes_as_they_happen(live_app) -> None:  # type: ignore[no-untyped-def]
    app, services = live_app
    with keep_conversation_tokens(staff_client(app)) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        ticket = client.post(f"/api/v1/conversations/{cid}/handoff", json={}).json()["ticket"]["id"]
        sign_in(client, "agent")
        seen: list[tuple[str, dict | list, float]] = []
        started = time.monotonic()

        def act() -> None:
            time.sleep(0.5)
            services.helpdesk.storage.queue.claim(ticket, "王")
            time.sleep(0.3)
            services.storage.conversations.add_message(cid, "user", "还在吗")

        threading.Thread(target=act).start()
        with client.stream("GET", f"/api/v1/helpdesk/events?ticket={ticket}&timeout=20") as r:
            assert r.status_code == 200
            event = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    seen.append((event, __import__("json").loads(line[6:]), time.monotonic() - started))
                    if event == "message" and seen[-1][1]["text"] == "还在吗":
                        break
    kinds = [k for k, _, _ in seen]
    assert kinds[:2] == ["queue", "ticket"] and seen[1][1]["status"] == "new"
    claimed = [d for k, d, _ in seen if k == "ticket" and d["status"] == "claimed"]
    assert claimed and claimed[0]["agent"] == "王"
    # catch-up is 300 s in this app: the changes came by signal
    assert seen[-1][2] < 5
