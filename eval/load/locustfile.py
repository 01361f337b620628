"""Locust users of the load test (run by ``xiaoshen bench load``, ``eval/load/bench.py``; docs/DEPLOY.md).

- :class:`Citizen` holds multi-turn conversations drawn from the development
  benchmark, waiting between messages as people type (``wait`` seconds, e.g. 5–15);
  at the end of a conversation some ask for a person, then keep the live event
  stream open until an agent's reply arrives, and start a new conversation.
- :class:`Agent` claims the oldest waiting ticket, replies and hands the
  conversation back to the bot, as staff at the console do.

Everything the run needs comes in one JSON file named by ``XS_LOAD_CONFIG`` (written
by the bench command): the base URL is locust's ``--host`` (loopback only), and
every acknowledged write, every error and every delivered live event is appended to
``record`` as one JSON line, which the bench checks against the database afterwards.
A ``steps`` list makes the run a step-up without waits (:class:`StepShape`).

Citizens' and agents' identities: each citizen sends its own ``X-Forwarded-For``
address (the server trusts only 127.0.0.1 to set it) so that the per-client rate
limits count each simulated person, as behind a real reverse proxy, and its
conversation's token (:meth:`Citizen.conversation_headers`); each agent signs in with
an account of its own (``agents``: usernames and passwords the bench created).
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.request
from typing import Any

from locust import FastHttpUser, LoadTestShape, between, constant, events, task

CONFIG: dict[str, Any] = json.loads(open(os.environ["XS_LOAD_CONFIG"], encoding="utf-8").read())
CONVERSATIONS: list[list[str]] = CONFIG["conversations"]
_record = open(CONFIG["record"], "a", encoding="utf-8", buffering=1)


def record(kind: str, **fields: Any) -> None:
    """One line of the run's record (locust's users share one gevent thread: no lock needed)."""
    _record.write(json.dumps({"k": kind, "t": time.time(), **fields}, ensure_ascii=False) + "\n")


@events.test_start.add_listener
def _started(**_: Any) -> None:
    record("start")


@events.quitting.add_listener
def _close(**_: Any) -> None:
    _record.flush()


_citizen_numbers = iter(range(1, 1 << 30))


def _why(response: Any) -> str:
    """What went wrong: the body of an HTTP error, or the connection error (status 0)."""
    if response.status_code == 0:
        return f"no response: {response.error!r}"[:300]
    return f"{response.status_code} {(response.text or '')[:280]}"


class Citizen(FastHttpUser):
    """A citizen (see the module docstring)."""

    wait_time = between(*CONFIG["wait"]) if CONFIG["wait"][1] > 0 else constant(0)
    weight = 1

    def on_start(self) -> None:
        n = next(_citizen_numbers)
        # a documentation address (2001:db8::/32) per citizen: a header value, never a destination
        self.address = f"2001:db8::{n:x}"
        self.conversation: dict[str, Any] | None = None
        self.turns: list[str] = []

    # ------------------------------------------------------------------ headers

    def headers(self) -> dict[str, str]:
        return {"X-Forwarded-For": self.address}

    def conversation_headers(self) -> dict[str, str]:
        """Headers of a call on the citizen's own conversation."""
        headers = self.headers()
        headers["X-Conversation-Token"] = self.conversation["token"]  # INTERFACE-auth.md
        return headers

    # ------------------------------------------------------------------ behaviour

    def open(self) -> bool:
        self.turns = list(random.choice(CONVERSATIONS))
        with self.client.post("/api/v1/conversations", json={}, headers=self.headers(), name="open conversation", catch_response=True) as r:
            if r.status_code != 201:
                r.failure(_why(r))
                record("error", what="open", status=r.status_code, body=_why(r))
                self.conversation = None
                return False
            self.conversation = r.json()
        return True

    @task
    def talk(self) -> None:
        if self.conversation is None or not self.turns:
            if self.conversation is not None and CONFIG["handoff_share"] > 0 and random.random() < CONFIG["handoff_share"]:
                self.ask_for_a_person()
            if not self.open():
                return
        text = self.turns.pop(0)
        cid = self.conversation["id"]
        started = time.time()
        with self.client.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": text},
            headers=self.conversation_headers(),
            name="message",
            catch_response=True,
        ) as r:
            ms = (time.time() - started) * 1000
            if r.status_code != 200:
                r.failure(_why(r))
                record("error", what="message", cid=cid, status=r.status_code, ms=ms, body=_why(r))
                self.conversation = None  # a new conversation next time
                return
            turn = r.json()
            record("message", cid=cid, uid=turn["user_message_id"], aid=turn["message_id"], text=text, ms=ms, start=started)

    def ask_for_a_person(self) -> None:
        """转人工, then wait on the live stream for an agent's reply (at most ``reply_wait_s``)."""
        cid = self.conversation["id"]
        with self.client.post(
            f"/api/v1/conversations/{cid}/handoff", json={"note": "请帮我转人工"}, headers=self.conversation_headers(),
            name="handoff", catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(_why(r))
                record("error", what="handoff", cid=cid, status=r.status_code, body=_why(r))
                return
            turn = r.json()
            after = turn["message_id"]
            record(
                "handoff", cid=cid, uid=turn["user_message_id"], after=after,
                ticket=turn["ticket"]["id"] if turn.get("ticket") else None,
            )
        # the live stream, as the web chat's EventSource holds it (urllib is gevent-patched by locust)
        deadline = time.time() + CONFIG["reply_wait_s"]
        url = f"{self.host}/api/v1/conversations/{cid}/events?after={after}&timeout={CONFIG['reply_wait_s']}"
        request = urllib.request.Request(url, headers=self.conversation_headers())
        try:
            with urllib.request.urlopen(request, timeout=CONFIG["reply_wait_s"] + 10) as stream:
                event = ""
                for raw in stream:
                    line = raw.decode("utf-8").rstrip("\n")
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "message":
                        message = json.loads(line[6:])
                        record("delivered", cid=cid, id=message["id"], role=message["role"])
                        if message["role"] == "agent":
                            return
                    if time.time() > deadline:
                        break
        except OSError as e:
            record("error", what="stream", cid=cid, status=0, body=str(e)[:300])
            return
        record("no_reply", cid=cid)


_accounts = iter(CONFIG.get("agents", []))


class Agent(FastHttpUser):
    """A member of staff at the console: sign in, then claim the oldest waiting ticket,
    reply, hand back (one account per simulated agent, made by the bench)."""

    wait_time = between(1, 3)
    fixed_count = len(CONFIG.get("agents", [])) or 1

    def on_start(self) -> None:
        account = next(_accounts)
        self.name_ = account["username"]
        self.session: dict[str, str] = {}
        with self.client.post("/api/v1/auth/login", json=account, name="sign in", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(_why(r))
                record("error", what="sign in", status=r.status_code, body=_why(r))
                return
            # the session cookie is Secure (HTTPS in production); on loopback HTTP it is sent by hand
            cookie = (r.headers.get("Set-Cookie") or "").split(";", 1)[0]
            self.session = {"Cookie": cookie, "X-CSRF-Token": r.json()["csrf_token"]}

    def staff(self) -> dict[str, str]:
        return dict(self.session)

    @task
    def work(self) -> None:
        with self.client.get("/api/v1/helpdesk/tickets?status=new", headers=self.staff(), name="queue", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(_why(r))
                record("error", what="queue", status=r.status_code, body=_why(r))
                return
            waiting = r.json()
        if not waiting:
            return
        ticket = waiting[0]["id"]
        with self.client.post(
            f"/api/v1/helpdesk/tickets/{ticket}/claim", json={}, headers=self.staff(), name="claim",
            catch_response=True,
        ) as r:
            if r.status_code == 409:  # another agent was faster: the race the queue is built for
                r.success()
                record("claim_lost", ticket=ticket)
                return
            if r.status_code != 200:
                r.failure(_why(r))
                record("error", what="claim", status=r.status_code, body=_why(r))
                return
            cid = r.json()["conversation_id"]
        text = f"您好，我是人工客服{self.name_}，已为您查询。"
        with self.client.post(
            f"/api/v1/helpdesk/tickets/{ticket}/reply", json={"text": text}, headers=self.staff(),
            name="reply", catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(_why(r))
                record("error", what="reply", status=r.status_code, body=_why(r))
                return
            record("agent_reply", cid=cid, id=r.json()["id"], ticket=ticket, text=text)
        with self.client.post(
            f"/api/v1/helpdesk/tickets/{ticket}/resolve", json={"resolution": "handed_back"},
            headers=self.staff(), name="resolve", catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(_why(r))
                record("error", what="resolve", status=r.status_code, body=_why(r))


if CONFIG.get("steps"):

    class StepShape(LoadTestShape):
        """Citizens without waits, in steps: ``steps`` = [[users, seconds], ...]; stops after the last."""

        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            for users, seconds in CONFIG["steps"]:
                if elapsed < seconds:
                    return users, max(users, 1)
                elapsed -= seconds
            return None
