"""200 concurrent message posts, ``kill -9`` of the server part-way, retries with the same keys:
every message is stored exactly once, and every acknowledged one keeps its ids.

A real server process (tests/test_helpdesk_crash.py ``LiveServer``: uvicorn, the
tiny fake knowledge base, SQLite in WAL mode) takes 200 posts from 40 client
threads over 50 conversations, each post with its own ``Idempotency-Key`` and
text.  It is killed with SIGKILL once 60 answers have come back, so requests
are cut off before, during and after their transaction.  A restarted server
(``limits.idempotency_stale_s`` short, so the dead process's claims can be
taken over quickly) then gets every one of the 200 posts again with its key,
until each is answered; the database is read afterwards.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.test_helpdesk_crash import LiveServer

POSTS = 200
CONVERSATIONS = 50
KILL_AFTER = 60


def test_kill_9_during_200_posts_then_retries_store_each_message_once(tmp_path: Path) -> None:
    from sqlalchemy import text

    from assistant.core.settings import HelpdeskSettings
    from assistant.db import open_database
    from tests.staff import citizen_headers

    data_dir = tmp_path / "data"
    env = {"XS_LIMITS__IDEMPOTENCY_STALE_S": "2", "XS_LIMITS__IDEMPOTENCY_WAIT_S": "5"}
    server = LiveServer(data_dir, tmp_path / "server.log", env=env).start()
    conversations: list[tuple[str, dict[str, str]]] = []
    for _ in range(CONVERSATIONS):
        status, c = server.call("POST", "/api/v1/conversations", {"lang": "zh"})
        assert status == 201
        conversations.append((c["id"], citizen_headers(c)))
    # post n: its own text and key, in conversation n % 50
    posts = [
        (conversations[n % CONVERSATIONS], f"第{n}号问题：居住证怎么办理", f"key-{n}") for n in range(POSTS)
    ]
    acked: dict[int, dict] = {}  # post -> the first answer the client saw
    lock = threading.Lock()
    enough = threading.Event()

    def post(target: LiveServer, n: int) -> tuple[int, dict]:
        (cid, headers), body, key = posts[n]
        try:
            return target.call(
                "POST", f"/api/v1/conversations/{cid}/messages", {"text": body},
                headers={**headers, "Idempotency-Key": key}, timeout=60,
            )
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError):
            return 0, {}  # cut off by the kill: no answer came back

    def first_round(n: int) -> None:
        status, answer = post(server, n)
        if status == 200:
            with lock:
                acked[n] = answer
                if len(acked) >= KILL_AFTER:
                    enough.set()

    try:
        with ThreadPoolExecutor(max_workers=40) as pool:
            futures = [pool.submit(first_round, n) for n in range(POSTS)]
            assert enough.wait(timeout=300), "the server stopped answering before the kill"
            server.kill9()
            for f in futures:
                f.result(timeout=120)
    finally:
        server.stop()
    assert KILL_AFTER <= len(acked) < POSTS, f"{len(acked)} answered before the kill: it came too late to cut any off"
    db = open_database(f"sqlite:///{data_dir / 'xiaoshen.db'}", helpdesk=HelpdeskSettings())
    with db.engine.connect() as conn:  # what the killed server had committed
        committed = conn.execute(text("SELECT count(*) FROM messages WHERE role = 'user'")).scalar()
    db.dispose()

    again = LiveServer(data_dir, tmp_path / "server2.log", env=env).start()
    retried: dict[int, dict] = {}
    statuses: dict[int, list[int]] = {}
    try:

        def retry(n: int) -> None:
            deadline = time.monotonic() + 120
            seen = statuses.setdefault(n, [])
            while time.monotonic() < deadline:
                status, answer = post(again, n)
                seen.append(status)
                if status == 200:
                    retried[n] = answer
                    return
                assert status in (0, 409, 503), (n, status, answer)  # in progress or stale: retry, as a client does
                time.sleep(0.5)

        with ThreadPoolExecutor(max_workers=40) as pool:
            list(pool.map(retry, range(POSTS)))
    finally:
        again.stop()
    assert len(retried) == POSTS, f"not answered after the restart: {sorted(set(range(POSTS)) - set(retried))}"
    for n, answer in acked.items():  # an acknowledged message keeps its ids: the retry replays it
        assert (retried[n]["user_message_id"], retried[n]["message_id"]) == (answer["user_message_id"], answer["message_id"])

    db = open_database(f"sqlite:///{data_dir / 'xiaoshen.db'}", helpdesk=HelpdeskSettings())
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            users = conn.execute(text("SELECT id, conversation_id, text FROM messages WHERE role = 'user'")).all()
            keys = dict(
                ((cid, key), response)
                for cid, key, response in conn.execute(text("SELECT conversation_id, key, response FROM idempotency_keys"))
            )
    finally:
        db.dispose()
    stored: dict[str, list[tuple[int, str]]] = {}
    for message_id, cid, body in users:
        stored.setdefault(body, []).append((message_id, cid))
    once = sum(len(stored.get(body, [])) == 1 for _, body, _ in posts)
    print(
        f"\n{POSTS} posts: {len(acked)} answered before kill -9, {committed} committed by then "
        f"({committed - len(acked)} stored but never answered), {once} stored exactly once after the retries"
    )
    for n, ((cid, _), body, key) in enumerate(posts):
        assert len(stored.get(body, [])) == 1, f"post {n} stored {len(stored.get(body, []))} times"
        message_id, where = stored[body][0]
        assert where == cid and retried[n]["user_message_id"] == message_id
        assert json.loads(keys[(cid, key)])["user_message_id"] == message_id  # the key names its own turn
    assert len(users) == POSTS
