"""Staff accounts end to end: sign-in, cookie flags, CSRF, session expiry, throttling and
lock-out, argon2id hashes, the admin API, the audit log, citizens' conversation tokens,
the ``xiaoshen accounts`` command and the removed shared token.

Sessions run on a scripted clock (the storage's); lock-out windows are the
``limits`` library's (wall time).  Memory and SQLite each run the HTTP tests.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from assistant.api.app import create_app
from assistant.api.auth import CONVERSATION_TOKEN_HEADER, CSRF_HEADER, SESSION_COOKIE, write_audit
from assistant.core.errors import ConfigError
from assistant.core.settings import AuthSettings, DatabaseSettings, LimitsSettings, PathsSettings, load_settings
from assistant.db import MEMORY_URL, Database, open_storage
from assistant.wiring import build_services, build_stages
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import PASSWORD, citizen_headers, ensure_account, new_conversation, sign_in, sign_out, staff_client

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):
    settings = load_settings(paths=PathsSettings(data_dir=tmp_path_factory.mktemp("stages")))
    return build_stages(settings, items=tiny_items(), embedder=KeywordEmbedder())


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(stages, data_dir: Path, clock: Clock, backend: str):
    """``make(**auth)``: a client (not entered) on an app with these auth settings, on the scripted clock."""

    def build(**auth: object):
        settings = load_settings(
            paths=PathsSettings(data_dir=data_dir),
            database=DatabaseSettings(url=MEMORY_URL if backend == "memory" else ""),
            limits=LimitsSettings(enabled=False),
            auth=AuthSettings(**auth),  # type: ignore[arg-type]
        )
        storage = open_storage(settings.database_url(), helpdesk=settings.helpdesk, clock=clock)
        client = staff_client(create_app(settings, services=build_services(settings, storage=storage, stages=stages)))
        client.storage = storage  # type: ignore[attr-defined]
        return client

    return build


def login(client, username: str, password: str):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def actions(client) -> list[str]:
    return [r.action for r in reversed(client.storage.audit.query(limit=500))]


# --------------------------------------------------------------------------- sign-in and the cookie


def test_sign_in_sets_a_secure_httponly_strict_server_side_session(make) -> None:
    with make(session_absolute_s=7200) as client:
        ensure_account(client, "agent", "wang")
        r = login(client, "WANG ", PASSWORD)  # usernames are case-folded and trimmed
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["username"] == "wang" and body["roles"] == ["agent"] and len(body["csrf_token"]) >= 32
        cookie = r.headers["set-cookie"]
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert cookie.startswith(f"{SESSION_COOKIE}=") and {"httponly", "secure", "samesite", "path", "max-age"} <= flags
        assert "samesite=strict" in cookie.lower() and "max-age=7200" in cookie.lower()
        assert "Cache-Control" in r.headers and r.headers["Cache-Control"] == "no-store"
        session_id = cookie.split(";", 1)[0].split("=", 1)[1]
        # the server keeps only the id's sha256, never the id itself
        stored = client.storage.sessions.find(hashlib.sha256(session_id.encode()).hexdigest())
        assert stored is not None and stored.username == "wang" and stored.csrf_token == body["csrf_token"]
        assert client.storage.sessions.find(session_id) is None
        me = client.get("/api/v1/auth/me").json()
        assert me == body
        # every sign-in starts a new session (an id planted before sign-in is worth nothing)
        # and ends the one the browser had
        again = login(client, "wang", PASSWORD)
        assert again.headers["set-cookie"].split(";")[0] != cookie.split(";")[0]
        assert client.storage.sessions.find(hashlib.sha256(session_id.encode()).hexdigest()) is None


def test_a_failed_sign_in_never_says_which_part_was_wrong(make) -> None:
    with make() as client:
        ensure_account(client, "agent", "wang")
        ensure_account(client, "agent", "li")
        client.storage.accounts.set_disabled("li", True)
        answers = [
            login(client, "wang", "not the password"),  # wrong password
            login(client, "nobody", PASSWORD),  # unknown user
            login(client, "li", PASSWORD),  # disabled account, right password
            login(client, "no such user!", PASSWORD),  # not even a valid username
        ]
        assert {(r.status_code, r.json()["error"]["code"], r.json()["error"]["message"]) for r in answers} == {
            (401, "login_failed", "the username or password is wrong")
        }
        assert all(SESSION_COOKIE not in r.headers.get("set-cookie", "") for r in answers)
        assert actions(client).count("auth.login_failed") == 4
        assert client.get("/api/v1/auth/me").status_code == 401


def test_sign_out_ends_the_session_on_the_server(make) -> None:
    with make() as client:
        sign_in(client, "agent")
        cookie = client.cookies.get(SESSION_COOKIE)
        without_csrf = client.post("/api/v1/auth/logout", headers={CSRF_HEADER: ""})
        assert without_csrf.status_code == 403 and without_csrf.json()["error"]["code"] == "csrf_failed"
        r = client.post("/api/v1/auth/logout")
        assert r.status_code == 204
        assert 'xs_session=""' in r.headers["set-cookie"] or "max-age=0" in r.headers["set-cookie"].lower()
        # the old cookie, replayed, opens nothing
        client.cookies.set(SESSION_COOKIE, cookie, domain="testserver")
        assert client.get("/api/v1/auth/me").status_code == 401
        assert actions(client)[-2:] == ["auth.login", "auth.logout"]


# --------------------------------------------------------------------------- CSRF


def test_every_state_changing_staff_request_needs_the_sessions_csrf_token(make) -> None:
    with make() as client:
        cid, citizen = new_conversation(client)
        ticket = client.post(f"/api/v1/conversations/{cid}/handoff", json={}, headers=citizen).json()["ticket"]["id"]
        sign_in(client, "admin")
        good = client.headers.pop(CSRF_HEADER)
        for method, path, body in (
            ("POST", f"/api/v1/helpdesk/tickets/{ticket}/claim", {}),
            ("POST", "/api/v1/accounts", {"username": "x1", "roles": ["agent"], "password": "long enough password"}),
            ("PUT", "/api/v1/accounts/admin/roles", {"roles": ["admin"]}),
            ("POST", "/api/v1/auth/logout", None),
        ):
            for sent in (None, "", "wrong", good[:-1]):
                headers = {} if sent is None else {CSRF_HEADER: sent}
                r = client.request(method, path, json=body, headers=headers)
                assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed", (method, path, sent)
        # another session's token is no good either
        other = staff_client(client.app)
        sign_in(other, "admin", username="admin.two")
        r = client.post(f"/api/v1/helpdesk/tickets/{ticket}/claim", json={}, headers={CSRF_HEADER: other.headers[CSRF_HEADER]})
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        assert client.storage.queue.get(ticket).status == "new"  # nothing happened
        # reads need none; with the token the change goes through
        assert client.get("/api/v1/helpdesk/queue").status_code == 200
        ok = client.post(f"/api/v1/helpdesk/tickets/{ticket}/claim", json={}, headers={CSRF_HEADER: good})
        assert ok.status_code == 200 and ok.json()["agent"] == "admin"


# --------------------------------------------------------------------------- session expiry


def test_sessions_end_when_idle_and_at_their_absolute_limit(make, clock: Clock) -> None:
    with make(session_idle_s=600, session_absolute_s=1800) as client:
        sign_in(client, "agent")
        for _ in range(2):
            clock.advance(590)  # used within the idle limit: the idle time restarts
            assert client.get("/api/v1/auth/me").status_code == 200
        clock.advance(601)  # idle too long
        r = client.get("/api/v1/auth/me")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert client.get("/console", follow_redirects=False).headers["location"] == "/login?next=%2Fconsole"

        sign_in(client, "agent")
        for _ in range(3):
            clock.advance(590)
            assert client.get("/api/v1/helpdesk/queue").status_code == 200  # busy, never idle
        clock.advance(590)  # 2,360 s after sign-in: past the absolute limit however busy
        assert client.get("/api/v1/helpdesk/queue").status_code == 401


def test_expired_sessions_are_purged_at_the_next_sign_in(make, clock: Clock) -> None:
    with make(session_idle_s=600, session_absolute_s=1800) as client:
        sign_in(client, "agent", username="a1")
        old = hashlib.sha256(client.cookies.get(SESSION_COOKIE).encode()).hexdigest()
        clock.advance(700)
        sign_in(client, "agent", username="a2")
        assert client.storage.sessions.find(old) is None


def test_disabling_an_account_ends_its_sessions_and_role_changes_apply_at_once(make) -> None:
    with make() as client:
        sign_in(client, "agent", username="wang")
        admin = staff_client(client.app)
        sign_in(admin, "admin")
        assert client.get("/api/v1/audit").status_code == 403
        assert admin.put("/api/v1/accounts/wang/roles", json={"roles": ["supervisor"]}).status_code == 200
        assert client.get("/api/v1/audit").status_code == 200  # the same session, the new role
        assert admin.post("/api/v1/accounts/wang/disable").json()["disabled"] is True
        assert client.get("/api/v1/auth/me").status_code == 401
        assert login(client, "wang", PASSWORD).status_code == 401
        assert admin.post("/api/v1/accounts/wang/enable").json()["disabled"] is False
        assert login(client, "wang", PASSWORD).status_code == 200


# --------------------------------------------------------------------------- throttling and lock-out


def test_an_account_is_locked_after_its_failures_even_for_the_right_password(make) -> None:
    with make(login_failures_per_account="3/minute", login_failures_per_client="100/minute") as client:
        ensure_account(client, "agent", "wang")
        ensure_account(client, "agent", "li")
        assert [login(client, "wang", "guess number one").status_code for _ in range(3)] == [401, 401, 401]
        locked = login(client, "wang", PASSWORD)
        assert locked.status_code == 429 and locked.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(locked.headers["Retry-After"]) <= 60
        assert login(client, "Wang", PASSWORD).status_code == 429  # however the name is typed
        assert actions(client).count("auth.lockout") == 1
        assert login(client, "li", PASSWORD).status_code == 200  # another account is not affected
        # an unknown name locks the same way: a lock-out says nothing about who exists
        assert [login(client, "ghost", "guess").status_code for _ in range(4)] == [401, 401, 401, 429]


def test_a_client_guessing_over_many_accounts_is_locked_out(make) -> None:
    with make(login_failures_per_account="100/minute", login_failures_per_client="4/minute") as client:
        ensure_account(client, "agent", "wang")
        codes = [login(client, f"user{n}", "guess").status_code for n in range(5)]
        assert codes == [401, 401, 401, 401, 429]
        assert login(client, "wang", PASSWORD).status_code == 429


def test_a_right_password_forgives_the_accounts_earlier_failures(make) -> None:
    with make(login_failures_per_account="3/minute", login_failures_per_client="100/minute") as client:
        ensure_account(client, "agent", "wang")
        for _ in range(2):
            assert login(client, "wang", "typo").status_code == 401
        assert login(client, "wang", PASSWORD).status_code == 200
        assert [login(client, "wang", "typo").status_code for _ in range(2)] == [401, 401]
        assert login(client, "wang", PASSWORD).status_code == 200


def test_a_lock_out_ends_by_itself(make) -> None:
    with make(login_failures_per_account="2/second", login_failures_per_client="100/minute") as client:
        ensure_account(client, "agent", "wang")
        for _ in range(2):
            login(client, "wang", "typo")
        assert login(client, "wang", PASSWORD).status_code == 429
        time.sleep(1.2)
        assert login(client, "wang", PASSWORD).status_code == 200


def test_the_throttle_counts_in_the_configured_limits_storage(make) -> None:
    """Failures are counted on the app's one ``limits`` limiter (its storage is ``limits.storage_url``:
    Redis there makes every server process count together)."""
    with make(login_failures_per_account="5/minute") as client:
        assert client.app.state.login_throttle.limiter is client.app.state.limits.limiter


# --------------------------------------------------------------------------- passwords


@pytest.mark.real_argon2
def test_passwords_are_stored_only_as_argon2id_hashes(make, backend: str, data_dir: Path) -> None:
    password = "a passphrase nobody else knows 123"
    with make() as client:
        sign_in(client, "admin")
        r = client.post("/api/v1/accounts", json={"username": "zhao", "roles": ["agent"], "password": password})
        assert r.status_code == 201 and "password" not in r.text and "argon2" not in r.text
        stored = client.storage.accounts.find("zhao").password_hash
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and password not in stored
        assert login(client, "zhao", password).status_code == 200
        if backend == "sqlite":
            for f in data_dir.glob("*.db*"):
                assert password.encode() not in f.read_bytes(), f.name


@pytest.mark.real_argon2
def test_a_weaker_hash_is_upgraded_at_the_next_sign_in(make) -> None:
    from argon2 import PasswordHasher

    with make() as client:
        weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
        client.storage.accounts.create("old", password_hash=weak, roles=["agent"])
        assert login(client, "old", PASSWORD).status_code == 200
        assert client.storage.accounts.find("old").password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


# --------------------------------------------------------------------------- the admin API


def test_admins_create_accounts_change_roles_and_every_change_is_audited(make) -> None:
    with make() as client:
        sign_in(client, "admin", username="root.admin")
        created = client.post("/api/v1/accounts", json={"username": "Wang.Fang", "roles": ["agent"], "password": "long enough password"})
        assert created.status_code == 201 and created.json()["username"] == "wang.fang"
        assert "password_hash" not in created.text
        refused = [
            client.post("/api/v1/accounts", json={"username": "wang.fang", "roles": ["agent"], "password": "long enough password"}),
            client.post("/api/v1/accounts", json={"username": "bad name!", "roles": ["agent"], "password": "long enough password"}),
            client.post("/api/v1/accounts", json={"username": "13812345678", "roles": ["agent"], "password": "long enough password"}),
            client.post("/api/v1/accounts", json={"username": "short.pw", "roles": ["agent"], "password": "short"}),
            client.post("/api/v1/accounts", json={"username": "no.role", "roles": ["root"], "password": "long enough password"}),
            client.post("/api/v1/accounts", json={"username": "same.pw", "roles": ["agent"], "password": "same.pw"}),
        ]
        assert [r.status_code for r in refused] == [409, 422, 422, 422, 422, 422]
        assert "13812345678" not in refused[2].text  # the refusal does not echo personal data
        changed = client.put("/api/v1/accounts/wang.fang/roles", json={"roles": ["agent", "supervisor"]})
        assert changed.json()["roles"] == ["agent", "supervisor"]
        assert client.get("/api/v1/accounts/WANG.FANG").json()["roles"] == ["agent", "supervisor"]
        assert [a["username"] for a in client.get("/api/v1/accounts").json()] == ["root.admin", "wang.fang"]
        assert client.get("/api/v1/accounts/nobody").status_code == 404
        # the last enabled admin cannot be taken away
        last = client.put("/api/v1/accounts/root.admin/roles", json={"roles": ["agent"]})
        assert last.status_code == 409 and "no enabled admin" in last.json()["error"]["message"]
        assert client.post("/api/v1/accounts/root.admin/disable").status_code == 409
        reset = client.put("/api/v1/accounts/wang.fang/password", json={"password": "a brand new password"})
        assert reset.status_code == 200
        records = {r.action: r for r in client.storage.audit.query(action="account.*")}
        assert set(records) == {"account.create", "account.role_change", "account.password_reset"}
        assert records["account.create"].actor == "root.admin" and records["account.create"].after == {"roles": ["agent"]}
        role_change = records["account.role_change"]
        assert role_change.target == "wang.fang" and role_change.before == {"roles": ["agent"]}
        assert role_change.after == {"roles": ["agent", "supervisor"]} and role_change.client == "testclient"
        assert "a brand new password" not in str(client.storage.audit.query(limit=500))


def test_only_admins_reach_the_accounts_api(make) -> None:
    with make() as client:
        for role in ("agent", "kb_operator", "supervisor"):
            sign_in(client, role)
            assert client.get("/api/v1/accounts").status_code == 403
            assert client.post("/api/v1/accounts", json={"username": "x", "roles": ["admin"], "password": "p" * 20}).status_code == 403
        sign_out(client)
        assert client.get("/api/v1/accounts").status_code == 401


# --------------------------------------------------------------------------- the audit log


def test_ticket_claim_transfer_and_resolve_are_audited_with_before_and_after(make) -> None:
    with make() as client:
        cid, citizen = new_conversation(client)
        ticket = client.post(f"/api/v1/conversations/{cid}/handoff", json={}, headers=citizen).json()["ticket"]["id"]
        sign_in(client, "agent", username="wang")
        client.post(f"/api/v1/helpdesk/tickets/{ticket}/claim", json={})
        client.post(f"/api/v1/helpdesk/tickets/{ticket}/transfer", json={"department": "上海市公安局"})
        client.post(f"/api/v1/helpdesk/tickets/{ticket}/claim", json={})
        client.post(f"/api/v1/helpdesk/tickets/{ticket}/resolve", json={"resolution": "answered"})
        refused = client.post(f"/api/v1/helpdesk/tickets/{ticket}/resolve", json={"resolution": "answered"})
        assert refused.status_code == 409  # a refused action leaves no audit record
        sign_in(client, "supervisor")
        page = client.get("/api/v1/audit", params={"action": "ticket.*"}).json()
        got = [(r["action"], r["before"]["status"], r["after"]["status"]) for r in reversed(page["records"])]
        assert got == [
            ("ticket.claim", "new", "claimed"),
            ("ticket.transfer", "claimed", "new"),
            ("ticket.claim", "new", "claimed"),
            ("ticket.resolve", "claimed", "resolved"),
        ]
        transfer = page["records"][2]
        assert transfer["actor"] == "wang" and transfer["target"] == f"ticket:{ticket}"
        assert transfer["after"]["department"] == "上海市公安局" and transfer["client"] == "testclient"
        at = datetime.fromisoformat(transfer["at"].replace("Z", "+00:00"))
        assert at.utcoffset() == timedelta(0)  # UTC


def test_the_audit_api_filters_pages_and_masks_personal_data(make, clock: Clock) -> None:
    with make() as client:
        storage = client.storage
        login(client, "13812345678", "a phone number typed as a username")  # audited, masked
        write_audit(storage, actor="wang", action="pii.reveal", target="message:1", before=None, after={"note": "身份证 11010519491231002X"})
        clock.advance(60)
        for n in range(5):
            write_audit(storage, actor="li", action="kb.edit", target=f"item:{n}")
        sign_in(client, "supervisor")
        everything = client.get("/api/v1/audit").text
        assert "13812345678" not in everything and "11010519491231002X" not in everything
        assert "[手机号·尾号5678]" in everything and "[身份证号·尾号002X]" in everything
        li = client.get("/api/v1/audit", params={"actor": "li", "limit": 2}).json()
        assert [r["target"] for r in li["records"]] == ["item:4", "item:3"] and li["next_before"] is not None
        rest = client.get("/api/v1/audit", params={"actor": "li", "limit": 10, "before": li["next_before"]}).json()
        assert [r["target"] for r in rest["records"]] == ["item:2", "item:1", "item:0"] and rest["next_before"] is None
        since = (T0 + timedelta(seconds=30)).isoformat()
        assert {r["actor"] for r in client.get("/api/v1/audit", params={"since": since}).json()["records"]} == {"li", "supervisor"}
        assert client.get("/api/v1/audit", params={"action": "pii.reveal"}).json()["records"][0]["actor"] == "wang"
        for bad in ({"since": "2026-12-01T10:00:00"}, {"action": "DROP TABLE"}, {"limit": 0}):
            r = client.get("/api/v1/audit", params=bad)
            assert r.status_code == 422, bad


def test_the_audit_log_cannot_be_changed_through_the_api(make) -> None:
    with make() as client:
        sign_in(client, "admin")
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert client.request(method, "/api/v1/audit").status_code == 405


# --------------------------------------------------------------------------- citizens


def test_a_conversation_opens_only_with_its_own_token(make, backend: str, data_dir: Path) -> None:
    with make() as client:
        mine = client.post("/api/v1/conversations", json={}).json()
        theirs = client.post("/api/v1/conversations", json={}).json()
        assert mine["token"] != theirs["token"] and len(mine["token"]) >= 40
        url = f"/api/v1/conversations/{mine['id']}"
        assert client.get(url, headers=citizen_headers(mine)).status_code == 200
        assert client.get(url).status_code == 401
        cross = client.get(url, headers=citizen_headers(theirs))
        assert cross.status_code == 403 and cross.json()["error"]["code"] == "forbidden"
        assert client.post(url + "/messages", json={"text": "护照"}, headers=citizen_headers(theirs)).status_code == 403
        assert client.get("/api/v1/conversations/unknown", headers=citizen_headers(mine)).status_code == 404
        # the token is read from the query on the event stream only (EventSource sends no headers)
        assert client.get(url + "/events", params={"token": mine["token"], "timeout": "0.5"}).status_code == 200
        assert client.get(url + "/events", params={"token": theirs["token"], "timeout": "0.5"}).status_code == 403
        assert client.get(url, params={"token": mine["token"]}).status_code == 401
        # staff, signed in, are not the citizen either
        sign_in(client, "admin")
        assert client.get(url).status_code == 401
        # only the token's hash is stored
        assert client.storage.conversation_tokens.get(mine["id"]) == hashlib.sha256(mine["token"].encode()).hexdigest()
        if backend == "sqlite":
            with client.storage.engine.connect() as conn:
                stored = conn.execute(text("SELECT token_hash FROM conversation_tokens")).scalars().all()
            assert mine["token"] not in stored and len(stored) == 2


# --------------------------------------------------------------------------- the guard behind the table


def test_a_route_the_access_check_did_not_see_is_refused(make) -> None:
    with make() as client:
        assert client.get("/healthz").status_code == 200  # the check has read the app's routes

        @client.app.get("/api/v1/late")
        def late() -> dict[str, str]:
            return {"secret": "x"}

        r = client.get("/api/v1/late")
        assert r.status_code == 403 and "secret" not in r.text


def test_a_route_without_a_row_is_closed(make, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.api import access

    with make() as client:
        monkeypatch.setattr(access, "ROUTES", tuple(r for r in access.ROUTES if r[1] != "/healthz"))
        r = client.get("/healthz")
        assert r.status_code == 403 and "no access rule" in r.json()["error"]["message"]


def test_a_signed_in_account_without_the_role_gets_a_page_saying_so(make) -> None:
    with make() as client:
        sign_in(client, "kb_operator")
        page = client.get("/dashboard")
        assert page.status_code == 403 and "text/html" in page.headers["content-type"]
        assert "supervisor" in page.text and "/login?next=/dashboard" in page.text
        assert "<script" not in page.text and "style=" not in page.text


# --------------------------------------------------------------------------- the command line and settings


def test_the_accounts_command_creates_the_first_admin_and_manages_roles(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from assistant.api.cli import app

    monkeypatch.setenv("XS_PATHS__DATA_DIR", str(tmp_path))
    runner = CliRunner()
    r = runner.invoke(app, ["create", "Chief", "--role", "admin", "--password-stdin"], input="the first admin password\n")
    assert r.exit_code == 0, r.output
    assert "created chief\tadmin\tenabled" in r.output
    r = runner.invoke(app, ["create", "wang", "--role", "agent", "--role", "kb_operator", "--password-stdin"], input="another good password\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["set-roles", "wang", "--role", "supervisor"])
    assert r.exit_code == 0 and "wang\tsupervisor" in r.output
    r = runner.invoke(app, ["disable", "wang"])
    assert r.exit_code == 0 and "disabled" in r.output
    r = runner.invoke(app, ["list", "--json"])
    assert r.exit_code == 0
    import json

    listed = {a["username"]: a for a in json.loads(r.output)}
    assert listed["chief"]["roles"] == ["admin"] and listed["wang"]["disabled"] is True
    r = runner.invoke(app, ["create", "x", "--role", "agent", "--password-stdin"], input="short\n")
    assert r.exit_code != 0 and "at least 12" in str(r.exception)
    # what the command did is in the audit log, named as the command line's
    settings = load_settings(paths=PathsSettings(data_dir=tmp_path))
    db = open_storage(settings.database_url(), helpdesk=settings.helpdesk)
    try:
        assert isinstance(db, Database)
        records = db.audit.query()
        assert [r.action for r in reversed(records)] == [
            "account.create", "account.create", "account.role_change", "account.disable"
        ]
        assert all(r.actor.startswith("cli") and r.client == "local" for r in records)
    finally:
        db.dispose()


def test_the_command_line_entry_point_reports_errors_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "XS_PATHS__DATA_DIR": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "-m", "assistant", "accounts", "create", "wang", "--role", "agent"],
        input="", capture_output=True, text=True, env=env, timeout=120,
    )
    assert r.returncode == 2 and r.stderr.strip().startswith("error: no terminal to ask for the password")
    r = subprocess.run(
        [sys.executable, "-m", "assistant", "accounts", "create", "wang", "--role", "agent", "--password-stdin"],
        input="a good long password\n", capture_output=True, text=True, env=env, timeout=120,
    )
    assert r.returncode == 0 and r.stdout.startswith("created wang"), r.stderr


def test_the_shared_staff_token_is_refused_at_start_up_with_the_fix(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XS_HELPDESK__STAFF_TOKEN", "s3cret")
    with pytest.raises(ConfigError) as e:
        load_settings()
    message = str(e.value)
    assert "XS_HELPDESK__STAFF_TOKEN" in message and "xiaoshen accounts create" in message and "/login" in message
    monkeypatch.delenv("XS_HELPDESK__STAFF_TOKEN")
    toml = tmp_path / "x.toml"
    toml.write_text('[helpdesk]\nstaff_token = "s3cret"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="xiaoshen accounts create"):
        load_settings(toml)


def test_auth_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="session_absolute_s"):
        load_settings(auth={"session_idle_s": 7200, "session_absolute_s": 3600})
    with pytest.raises(ConfigError, match="login_failures_per_account"):
        load_settings(auth={"login_failures_per_account": "often"})
