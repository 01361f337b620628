"""``kill -9`` of a real server process in the middle of handoffs loses no ticket and no message.

A real uvicorn process (the app on the tiny fake knowledge base, SQLite in
WAL mode) takes concurrent handoffs, citizen messages and agent replies; it
is killed with SIGKILL while requests are in flight, restarted on the same
data directory, and then every acknowledged write must be there, every turn
whole (user message with its answer, handoff state with its ticket), and the
database intact.

``LiveServer`` is also used by the browser test; ``create_account`` and
``sign_in`` give it staff (the session cookie and CSRF token are sent by
``call(..., staff=True)``), and citizens' calls carry their conversation token.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

from eval.load.servers import stop_process, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]


def serve(data_dir: str, port: int) -> None:
    """Run the app on the tiny fake knowledge base (the body of the server process)."""
    import uvicorn

    from assistant.api.app import create_app
    from assistant.core.settings import PathsSettings, load_settings
    from assistant.wiring import build_services
    from tests.fakes import KeywordEmbedder, tiny_items

    settings = load_settings(paths=PathsSettings(data_dir=Path(data_dir)))
    services = build_services(settings, items=tiny_items(), embedder=KeywordEmbedder())
    # Open live streams (server-sent events) must not hold a shutdown for long.
    uvicorn.run(
        create_app(settings, services=services),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A server subprocess on a free loopback port; ``start`` waits for /readyz."""

    def __init__(self, data_dir: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log = log
        #: extra environment of the server process (XS_… settings)
        self.env = env or {}
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.staff_headers: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> LiveServer:
        code = f"from tests.test_helpdesk_crash import serve; serve({str(self.data_dir)!r}, {self.port})"
        # the crash test opens many conversations from one address: abuse limits are not its subject
        env = {**os.environ, "PYTHONPATH": str(ROOT), "XS_LIMITS__ENABLED": "false", **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        wait_until_ready(self.process, self.url, self.log, timeout=timeout)
        return self

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process)

    def create_account(self, username: str, role: str, password: str) -> None:
        """A staff account in the server's database (before or while it runs)."""
        from tests.staff import create_account

        create_account(self.data_dir, username, role, password)

    def sign_in(self, username: str, password: str) -> dict:
        """Sign in through the API; later ``call(..., staff=True)`` sends the session and CSRF token."""
        status, body, headers = self._send("POST", "/api/v1/auth/login", {"username": username, "password": password})
        assert status == 200, (status, body)
        cookie = headers.get("Set-Cookie", "")  # (header names are case-insensitive here)
        assert cookie.startswith("xs_session=") and "HttpOnly" in cookie and "Secure" in cookie, cookie
        self.staff_headers = {"Cookie": cookie.split(";", 1)[0], "X-CSRF-Token": body["csrf_token"]}
        return body

    def call(
        self,
        method: str,
        path: str,
        body: object | None = None,
        timeout: float = 30,
        *,
        headers: dict[str, str] | None = None,
        staff: bool = False,
    ) -> tuple[int, dict]:
        """One JSON request; ``headers`` (a citizen's token), ``staff`` (the signed-in session)."""
        sent = {**(headers or {}), **(self.staff_headers if staff else {})}
        status, answer, _ = self._send(method, path, body, timeout, sent)
        return status, answer

    def _send(
        self, method: str, path: str, body: object | None, timeout: float = 30, headers: dict[str, str] | None = None
    ) -> tuple[int, dict, Message]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null"), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null"), e.headers


#: the crash test's agent signs in with this password (the server upgrades the hash to the production cost).
AGENT_PASSWORD = "agent password for the crash test"


def test_kill_9_mid_handoff_loses_no_ticket_and_no_message(tmp_path: Path) -> None:
    from sqlalchemy import text

    from assistant.db import open_database
    from assistant.core.settings import HelpdeskSettings

    from tests.staff import citizen_headers

    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, tmp_path / "server.log")
    server.create_account("王", "agent", AGENT_PASSWORD)
    server.start()
    server.sign_in("王", AGENT_PASSWORD)
    acked_messages: dict[int, str] = {}  # message id -> text, for every 200 the clients saw
    acked_tickets: dict[str, int] = {}  # conversation id -> ticket id
    citizens: dict[str, dict[str, str]] = {}  # conversation id -> its token header
    lock = threading.Lock()
    try:
        # 12 conversations already with a person (claimed), 12 that will ask for one during the crash.
        busy, fresh = [], []
        for i in range(24):
            status, c = server.call("POST", "/api/v1/conversations", {"lang": "zh"})
            assert status == 201
            citizens[c["id"]] = citizen_headers(c)
            status, turn = server.call(
                "POST", f"/api/v1/conversations/{c['id']}/messages", {"text": "社保卡怎么补办"}, headers=citizens[c["id"]]
            )
            assert status == 200
            (busy if i < 12 else fresh).append(c["id"])
        for cid in busy:
            status, turn = server.call("POST", f"/api/v1/conversations/{cid}/handoff", {}, headers=citizens[cid])
            acked_tickets[cid] = turn["ticket"]["id"]
            assert server.call("POST", f"/api/v1/helpdesk/tickets/{turn['ticket']['id']}/claim", {}, staff=True)[0] == 200

        stop = threading.Event()
        done = threading.Semaphore(0)

        def attempt(method: str, path: str, body: object, **who: object) -> tuple[int, dict]:
            """A call that may be cut off by the kill: (0, {}) when no full response came back."""
            try:
                return server.call(method, path, body, **who)  # type: ignore[arg-type]
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError):
                return 0, {}

        def citizen(cid: str) -> None:
            status, turn = attempt("POST", f"/api/v1/conversations/{cid}/handoff", {"note": "请人工帮我"}, headers=citizens[cid])
            if status == 200:
                with lock:
                    acked_tickets[cid] = turn["ticket"]["id"]
                    acked_messages[turn["user_message_id"]] = "请人工帮我"
                done.release()
            n = 0
            while not stop.is_set():
                n += 1
                status, turn = attempt(
                    "POST", f"/api/v1/conversations/{cid}/messages", {"text": f"还在吗{n}"}, headers=citizens[cid]
                )
                if status == 0:
                    return
                if status == 200:
                    with lock:
                        acked_messages[turn["user_message_id"]] = f"还在吗{n}"
                    done.release()

        def agent(cid: str) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                status, msg = attempt(
                    "POST", f"/api/v1/helpdesk/tickets/{acked_tickets[cid]}/reply", {"text": f"回复{n}"}, staff=True
                )
                if status == 0:
                    return
                if status == 200:
                    with lock:
                        acked_messages[msg["id"]] = f"回复{n}"
                    done.release()

        threads = [threading.Thread(target=citizen, args=(c,)) for c in fresh]
        threads += [threading.Thread(target=agent, args=(c,)) for c in busy]
        for th in threads:
            th.start()
        for _ in range(60):  # let plenty of writes land, then kill while the rest are in flight
            assert done.acquire(timeout=60), "the server stopped acknowledging writes"
        server.kill9()
        stop.set()
        for th in threads:
            th.join(timeout=60)
    finally:
        server.stop()

    assert len(acked_messages) >= 60
    db = open_database(f"sqlite:///{data_dir / 'xiaoshen.db'}", helpdesk=HelpdeskSettings())
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        stored = dict(conn.execute(text("SELECT id, text FROM messages")).all())
    for message_id, body in acked_messages.items():
        assert stored.get(message_id) == body, f"acknowledged message {message_id} lost"
    for cid, ticket_id in acked_tickets.items():
        ticket = db.queue.get(ticket_id)
        assert ticket.conversation_id == cid and ticket.status in ("new", "claimed", "answered")
    for cid in busy + fresh:
        conversation = db.conversations.get(cid)
        tickets = db.conversations.tickets_of(cid)
        # the handoff state and its ticket were written together, or not at all
        assert conversation.state.handed_off == bool(tickets), cid
        assert len(tickets) <= 1
        roles = [t.role for t in conversation.turns]
        for i, role in enumerate(roles):
            if role == "user":  # each user message was stored with its answer
                assert i + 1 < len(roles) and roles[i + 1] == "assistant", (cid, roles)
    db.dispose()

    # The restarted server carries on: the agent's session survived, and it answers a waiting citizen.
    again = LiveServer(data_dir, tmp_path / "server2.log").start()
    again.staff_headers = server.staff_headers
    try:
        cid = fresh[0] if fresh[0] in acked_tickets else busy[0]
        ticket_id = acked_tickets[cid]
        assert again.call("POST", f"/api/v1/helpdesk/tickets/{ticket_id}/claim", {}, staff=True)[0] == 200
        status, msg = again.call("POST", f"/api/v1/helpdesk/tickets/{ticket_id}/reply", {"text": "重启后"}, staff=True)
        assert status == 200
        status, conversation = again.call("GET", f"/api/v1/conversations/{cid}", headers=citizens[cid])
        assert conversation["messages"][-1]["id"] == msg["id"]
    finally:
        again.stop()

