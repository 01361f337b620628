"""One contract for staff accounts, sessions, the audit log and conversation tokens,
on every storage backend: in memory, SQLite and PostgreSQL (run for real).

The sibling of tests/test_db_contract.py, with the same fixtures.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from assistant.core.errors import Conflict, NotFound
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import AccountStore, AuditLog, ConversationTokens, SessionStore, Storage
from assistant.db import Database, open_storage
from tests.storage_backends import BACKENDS, backend_url
from tests.test_db_contract import LEASE_S, T0, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock):
    url = backend_url(request, request.param, tmp_path)
    storage = open_storage(url, helpdesk=HelpdeskSettings(claim_lease_s=LEASE_S), clock=clock)
    assert isinstance(storage, Storage)
    yield storage
    storage.dispose()


def test_the_stores_implement_their_protocols(db: Storage) -> None:
    assert isinstance(db.accounts, AccountStore)
    assert isinstance(db.sessions, SessionStore)
    assert isinstance(db.audit, AuditLog)
    assert isinstance(db.conversation_tokens, ConversationTokens)


# --------------------------------------------------------------------------- accounts


def test_accounts_create_find_list_and_change(db: Storage, clock: Clock) -> None:
    accounts = db.accounts
    a = accounts.create("wang", password_hash="$argon2id$x", roles=["supervisor", "agent", "agent"])
    assert a.roles == ("agent", "supervisor") and not a.disabled
    assert a.created_at == a.updated_at == T0
    accounts.create("王芳", password_hash="$argon2id$y", roles=["agent"])
    assert [x.username for x in accounts.list()] == sorted(["wang", "王芳"])
    assert accounts.find("wang") == a
    assert accounts.find("nobody") is None
    with pytest.raises(Conflict):
        accounts.create("wang", password_hash="h", roles=[])
    clock.advance(5)
    changed = accounts.set_roles("wang", ["admin"])
    assert changed.roles == ("admin",) and changed.updated_at == T0 + timedelta(seconds=5)
    assert changed.created_at == T0
    assert accounts.set_disabled("wang", True).disabled
    assert accounts.find("wang").disabled
    assert not accounts.set_disabled("wang", False).disabled
    assert accounts.set_password("wang", "$argon2id$z").password_hash == "$argon2id$z"
    assert accounts.find("wang").roles == ("admin",)
    for change in (
        lambda: accounts.set_roles("nobody", ["agent"]),
        lambda: accounts.set_disabled("nobody", True),
        lambda: accounts.set_password("nobody", "h"),
    ):
        with pytest.raises(NotFound):
            change()


def test_concurrent_creates_of_one_username_make_one_account(db: Storage) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        try:
            db.accounts.create("same", password_hash=f"h{i}", roles=["agent"])
            result = "ok"
        except Conflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert len(db.accounts.list()) == 1


# --------------------------------------------------------------------------- sessions


def test_sessions_create_find_touch_delete(db: Storage, clock: Clock) -> None:
    db.accounts.create("wang", password_hash="h", roles=["agent"])
    db.accounts.create("li", password_hash="h", roles=["agent"])
    s = db.sessions.create("a" * 64, "wang", "csrf-1")
    assert (s.created_at, s.last_seen_at, s.csrf_token) == (T0, T0, "csrf-1")
    assert db.sessions.find("a" * 64) == s
    assert db.sessions.find("b" * 64) is None
    with pytest.raises(NotFound):
        db.sessions.create("c" * 64, "nobody", "x")
    with pytest.raises(Conflict):
        db.sessions.create("a" * 64, "li", "x")
    clock.advance(30)
    db.sessions.touch("a" * 64)
    seen = db.sessions.find("a" * 64)
    assert seen.last_seen_at == T0 + timedelta(seconds=30) and seen.created_at == T0
    db.sessions.create("b" * 64, "wang", "csrf-2")
    db.sessions.create("d" * 64, "li", "csrf-3")
    assert db.sessions.delete_for("wang") == 2
    assert db.sessions.find("a" * 64) is None and db.sessions.find("d" * 64) is not None
    db.sessions.delete("d" * 64)
    db.sessions.delete("d" * 64)  # gone already: no error
    assert db.sessions.find("d" * 64) is None


def test_purge_drops_idle_and_too_old_sessions_only(db: Storage, clock: Clock) -> None:
    db.accounts.create("wang", password_hash="h", roles=["agent"])
    db.sessions.create("old" + "0" * 61, "wang", "x")  # created at T0
    clock.advance(600)
    db.sessions.create("idle" + "0" * 60, "wang", "x")  # created at T0+600, never touched
    clock.advance(600)
    db.sessions.create("live" + "0" * 60, "wang", "x")  # created at T0+1200
    db.sessions.touch("old" + "0" * 61)  # recently seen, but too old
    now = T0 + timedelta(seconds=1200)
    gone = db.sessions.purge(idle_since=now - timedelta(seconds=300), created_since=now - timedelta(seconds=900))
    assert gone == 2
    assert db.sessions.find("live" + "0" * 60) is not None
    assert db.sessions.find("old" + "0" * 61) is None and db.sessions.find("idle" + "0" * 60) is None


# --------------------------------------------------------------------------- audit log


def test_audit_appends_and_queries_newest_first_with_filters_and_pages(db: Storage, clock: Clock) -> None:
    log = db.audit
    first = log.append(actor="wang", action="auth.login", target="wang", client="10.0.0.1")
    assert first.at == T0 and first.before is None and first.after is None and first.client == "10.0.0.1"
    clock.advance(10)
    log.append(actor="wang", action="ticket.claim", target="ticket:1", before={"status": "new"}, after={"status": "claimed", "agent": "wang"})
    clock.advance(10)
    log.append(actor="li", action="ticket.resolve", target="ticket:1", before={"n": [1, 2]}, after=None)
    clock.advance(10)
    log.append(actor="admin", action="account.role_change", target="li", before=["agent"], after=["agent", "supervisor"])
    everything = log.query()
    assert [r.action for r in everything] == ["account.role_change", "ticket.resolve", "ticket.claim", "auth.login"]
    assert everything[0].before == ["agent"] and everything[0].after == ["agent", "supervisor"]
    assert everything[2].after == {"status": "claimed", "agent": "wang"}
    assert [r.action for r in log.query(actor="wang")] == ["ticket.claim", "auth.login"]
    assert [r.actor for r in log.query(action="ticket.*")] == ["li", "wang"]
    assert log.query(action="ticket.") == []  # an exact name, not a prefix
    assert [r.action for r in log.query(since=T0 + timedelta(seconds=20))] == ["account.role_change", "ticket.resolve"]
    page1 = log.query(limit=2)
    page2 = log.query(limit=2, before_id=page1[-1].id)
    assert [r.id for r in page1 + page2] == [r.id for r in everything]
    assert log.query(limit=2, before_id=page2[-1].id) == []


def test_audit_underscore_in_an_action_prefix_is_literal(db: Storage) -> None:
    db.audit.append(actor="a", action="kb_x.edit", target="t")
    db.audit.append(actor="a", action="kbaxyz.edit", target="t")
    assert [r.action for r in db.audit.query(action="kb_x.*")] == ["kb_x.edit"]


def test_audit_cuts_overlong_actor_and_target_instead_of_failing(db: Storage) -> None:
    r = db.audit.append(actor="x" * 500, action="auth.login_failed", target="y" * 900, client="z" * 200)
    stored = db.audit.query()[0]
    assert stored == r and len(r.actor) == 128 and len(r.target) == 256 and len(r.client) == 64


def test_audit_log_has_no_update_or_delete_and_the_database_refuses_them(db: Storage) -> None:
    assert not any(hasattr(db.audit, name) for name in ("update", "delete", "remove", "clear", "purge"))
    db.audit.append(actor="wang", action="auth.login", target="wang")
    if not isinstance(db, Database):
        return
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(statement))
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(Exception, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_log"))
    assert [r.actor for r in db.audit.query()] == ["wang"]


# --------------------------------------------------------------------------- conversation tokens


def test_conversation_tokens_set_once_and_read(db: Storage) -> None:
    c = db.conversations.create()
    assert db.conversation_tokens.get(c.id) is None
    db.conversation_tokens.set(c.id, "f" * 64)
    assert db.conversation_tokens.get(c.id) == "f" * 64
    with pytest.raises(Conflict):
        db.conversation_tokens.set(c.id, "e" * 64)
    with pytest.raises(NotFound):
        db.conversation_tokens.set("no-such-conversation", "e" * 64)
    assert db.conversation_tokens.get("no-such-conversation") is None
