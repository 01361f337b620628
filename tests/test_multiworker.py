"""Two server processes on PostgreSQL and Redis, as the production profile runs them.

- A new knowledge-base version is published while citizens' messages flow through
  both workers: no request fails, and each worker answers from the new version
  within 5 s.
- One worker is killed (SIGKILL) mid-conversation: the citizen carries on through the
  other with nothing lost, and an agent's reply written by one worker reaches the
  citizen's live stream held by the other.
- A worker that loses Redis or PostgreSQL reports not-ready and recovers by itself.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fakes import tiny_items
from tests.staff import citizen_headers
from tests.storage_backends import fresh_postgres_database
from tests.workers import Worker, build_tiny_artefact, create_staff, renamed_summary, tiny_settings

AGENT, AGENT_PASSWORD = "王", "agent password for the multi-worker tests"
QUESTION = "护照是什么"  # answered with the passport item's summary, which the new version changes
NEW_SUMMARY = "护照第二版说明文字。"


def _env(tmp: Path, database: str, redis: str, **extra: str) -> dict[str, str]:
    return {
        "XS_PATHS__DATA_DIR": str(tmp / "data"),
        "XS_PATHS__KB_DIR": str(tmp / "kb"),
        "XS_INTENTS__BACKEND": "rules",
        "XS_DATABASE__URL": database,
        "XS_EVENTS__URL": redis,
        "XS_LIMITS__STORAGE_URL": redis,
        # every simulated citizen comes from 127.0.0.1: keep the limits on (shared in Redis) but high
        "XS_LIMITS__MESSAGE_PER_CLIENT": "100000/minute",
        "XS_LIMITS__MESSAGE_PER_CONVERSATION": "100000/minute",
        "XS_LIMITS__CONVERSATION_PER_CLIENT": "100000/minute",
        "XS_ARTEFACT__WATCH_S": "0.5",
        **extra,
    }


@pytest.fixture
def deployment(tmp_path: Path, postgres_server: str, redis_server: str):  # type: ignore[no-untyped-def]
    """Two workers on one fresh PostgreSQL database and the session's Redis."""
    build_tiny_artefact(tiny_settings(tmp_path))
    database = fresh_postgres_database(postgres_server)
    env = _env(tmp_path, database, redis_server, XS_EVENTS__CATCH_UP_S="120")
    workers = [Worker(env, tmp_path / f"w{n}.log", name=f"worker {n}") for n in range(2)]
    try:
        # started together, as a deployment starts them: they migrate the empty database once
        starters = [threading.Thread(target=w.start) for w in workers]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        for w in workers:
            assert w.call("GET", "/readyz")[0] == 200, w.log.read_text()[-2000:]
        create_staff(tiny_settings(tmp_path), database, AGENT, "agent", AGENT_PASSWORD)
        yield tmp_path, workers
    finally:
        for w in workers:
            w.stop()


def test_publish_while_requests_flow_across_two_workers(deployment) -> None:  # type: ignore[no-untyped-def]
    tmp, workers = deployment
    records: list[tuple[float, int, int, str, str, float]] = []  # (end, worker, status, version, answer, start)
    failures: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def citizen(n: int) -> None:
        status, conversation, _ = workers[n % 2].call("POST", "/api/v1/conversations", {})
        if status != 201:
            failures.append(f"create: {status} {conversation}")
            return
        mine = citizen_headers(conversation)
        turn = 0
        while not stop.is_set():
            w = (n + turn) % 2  # every other message to the other worker, as a balancer may send them
            turn += 1
            began = time.monotonic()
            try:
                status, body, headers = workers[w].call(
                    "POST", f"/api/v1/conversations/{conversation['id']}/messages", {"text": QUESTION}, headers=mine
                )
            except (OSError, urllib.error.URLError) as e:
                failures.append(f"worker {w}: {e!r}")
                continue
            with lock:
                if status != 200:
                    failures.append(f"worker {w}: {status} {body}")
                else:
                    records.append((time.monotonic(), w, status, headers["X-KB-Version"], body["answer"], began))

    threads = [threading.Thread(target=citizen, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    first_version = records[-1][3]
    new, written = build_tiny_artefact(tiny_settings(tmp), renamed_summary(tiny_items(), "passport-apply", NEW_SUMMARY))
    published = time.monotonic()
    assert written and new.version != first_version
    deadline = published + 8
    while time.monotonic() < deadline:
        with lock:
            done = all(any(v == new.version and w == n for _, w, _, v, _, _ in records) for n in range(2))
        if done:
            break
        time.sleep(0.1)
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)

    assert failures == [], failures[:5]
    for n in range(2):
        mine = [(t, v, a, began) for t, w, _, v, a, began in records if w == n]
        switched = [t for t, v, _, _ in mine if v == new.version]
        assert switched, f"worker {n} never answered from the new version"
        assert min(switched) - published < 5, f"worker {n} took {min(switched) - published:.1f} s"
        # once a worker has answered from the new version, every request it starts later does too
        # (one started before may still finish on the old one: it keeps the version it began with)
        assert all(v == new.version for _, v, _, began in mine if began > min(switched))
        # and each answer is the one of the version that the response names
        assert all((NEW_SUMMARY in a) == (v == new.version) for _, v, a, _ in mine)
        ready = workers[n].call("GET", "/readyz")[1]
        assert ready["artefact"] == new.version and ready["checks"] == {"database": "ok", "events": "ok", "limits": "ok"}
    assert len(records) > 20


def _stream(worker: Worker, path: str, out: list[dict], stop_after: int, ready: threading.Event) -> None:
    """Read a live stream's message events into ``out`` (stops after ``stop_after`` of them)."""
    request = urllib.request.Request(worker.url + path)
    with urllib.request.urlopen(request, timeout=60) as r:
        ready.set()
        event = ""
        for raw in r:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "message":
                out.append({**json.loads(line[6:]), "_at": time.monotonic()})
                if len(out) >= stop_after:
                    return


def test_a_killed_worker_loses_nothing_and_replies_cross_workers(deployment) -> None:  # type: ignore[no-untyped-def]
    _, (a, b) = deployment
    acked: dict[int, str] = {}
    status, conversation, _ = a.call("POST", "/api/v1/conversations", {})
    cid, mine = conversation["id"], citizen_headers(conversation)
    for text in ("护照怎么办理", "要带什么材料"):
        status, turn, _ = a.call("POST", f"/api/v1/conversations/{cid}/messages", {"text": text}, headers=mine)
        assert status == 200
        acked[turn["user_message_id"]] = text
    status, turn, _ = a.call("POST", f"/api/v1/conversations/{cid}/handoff", {"note": "请人工"}, headers=mine)
    assert status == 200
    acked[turn["user_message_id"]] = "请人工"
    ticket = turn["ticket"]["id"]
    last = max(m["id"] for m in a.call("GET", f"/api/v1/conversations/{cid}", headers=mine)[1]["messages"])

    # the citizen's browser holds its live stream on worker B; the agent works on worker A
    received: list[dict] = []
    ready = threading.Event()
    reader = threading.Thread(target=_stream, args=(b, f"/api/v1/conversations/{cid}/events?after={last}&timeout=30&token={conversation['token']}", received, 2, ready))
    reader.start()
    assert ready.wait(10)
    time.sleep(0.3)
    session = a.sign_in(AGENT, AGENT_PASSWORD)
    assert a.call("POST", f"/api/v1/helpdesk/tickets/{ticket}/claim", {}, staff=True)[0] == 200
    sent = time.monotonic()
    status, reply, _ = a.call("POST", f"/api/v1/helpdesk/tickets/{ticket}/reply", {"text": "您好，我是人工客服"}, staff=True)
    assert status == 200
    acked[reply["id"]] = "您好，我是人工客服"
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received and received[0]["text"] == "您好，我是人工客服", "the reply written on A did not reach B's stream"
    # well inside the stream's catch-up interval (120 s): the signal carried it, not a poll
    assert received[0]["_at"] - sent < 3

    # worker A dies in the middle of the conversation
    a.kill9()
    status, turn, _ = b.call("POST", f"/api/v1/conversations/{cid}/messages", {"text": "我的护照过期了"}, headers=mine)
    assert status == 200
    acked[turn["user_message_id"]] = "我的护照过期了"
    # the agent's session, opened on A, lives in the database: B honours it
    b.staff_headers = session
    status, reply, _ = b.call("POST", f"/api/v1/helpdesk/tickets/{ticket}/reply", {"text": "请带旧护照"}, staff=True)
    assert status == 200
    acked[reply["id"]] = "请带旧护照"
    reader.join(timeout=20)
    # the stream on B went on through A's death: the citizen's own message came through it too
    assert [m["text"] for m in received] == ["您好，我是人工客服", "我的护照过期了"]
    messages = b.call("GET", f"/api/v1/conversations/{cid}", headers=mine)[1]["messages"]
    stored = {m["id"]: m["text"] for m in messages}
    for message_id, text in acked.items():
        assert stored.get(message_id) == text, f"acknowledged message {message_id} lost"
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    assert len([m for m in messages if m["role"] == "user"]) == 4  # nothing duplicated either
    assert [m["text"] for m in messages if m["role"] == "agent"] == ["您好，我是人工客服", "请带旧护照"]


def test_a_worker_that_loses_redis_or_postgresql_turns_not_ready_and_recovers(tmp_path: Path, redis_process) -> None:  # type: ignore[no-untyped-def]
    from eval.load.servers import start_postgres, start_redis

    pg = start_postgres()
    try:
        build_tiny_artefact(tiny_settings(tmp_path))
        worker = Worker(_env(tmp_path, pg.url, redis_process.url), tmp_path / "w.log").start()
        try:
            def wait_for(code: int, what: str) -> dict:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    status, body, _ = worker.call("GET", "/readyz", timeout=10)
                    if status == code:
                        return body
                    time.sleep(0.2)
                raise AssertionError(f"/readyz never answered {code} {what}: {body}")

            port = redis_process.port
            redis_process.stop()
            body = wait_for(503, "after Redis stopped")
            assert body["checks"]["events"].startswith("unavailable")
            redis = start_redis(port)
            try:
                wait_for(200, "after Redis came back")
                pg.halt()
                body = wait_for(503, "after PostgreSQL stopped")
                assert body["error"]["code"] == "database_unavailable"
                pg.resume()
                wait_for(200, "after PostgreSQL came back")
                # and it serves again
                status, conversation, _ = worker.call("POST", "/api/v1/conversations", {})
                assert status == 201
                path = f"/api/v1/conversations/{conversation['id']}/messages"
                assert worker.call("POST", path, {"text": "护照"}, headers=citizen_headers(conversation))[0] == 200
            finally:
                redis.stop()
        finally:
            worker.stop()
    finally:
        pg.stop()
