"""Storage backends for tests: a throw-away PostgreSQL server, fresh databases, row counts.

PostgreSQL: ``XS_TEST_POSTGRES_URL`` if set, else a throw-away cluster started
with the local ``initdb``/``pg_ctl`` (skipped, with the reason, when they are
missing; ``make test`` installs Debian's postgresql, and in CI a skip fails).
Redis likewise: ``XS_TEST_REDIS_URL``, else a throw-away ``redis-server``.
``postgres_server`` and ``redis_server`` are registered in conftest.py so that one
server of each serves the session (``eval.load.servers`` starts them).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from assistant.core.types import Storage
from assistant.db import MEMORY_URL, Database
from assistant.db.memory import MemoryStorage
from assistant.db.models import ConversationRow, FeedbackRow, MessageRow, TicketEventRow, TicketRow
from eval.load.servers import ServerUnavailable, redis_available, start_postgres, start_redis

#: every storage backend; the contract suite runs on each.
BACKENDS = ["memory", "sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server URL for the session (see the module docstring)."""
    if os.environ.get("XS_TEST_POSTGRES_URL"):
        yield os.environ["XS_TEST_POSTGRES_URL"]
        return
    try:
        server = start_postgres(max_connections=100)
    except ServerUnavailable as e:
        pytest.skip(f"PostgreSQL contract tests need initdb and pg_ctl on PATH, or XS_TEST_POSTGRES_URL: {e}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server():
    """A Redis URL for the session: ``XS_TEST_REDIS_URL`` if set, else a throw-away
    redis-server on a free loopback port in a temporary folder.  Skips, saying so, only
    when redis-server is not installed (``make test`` installs it; in CI a skip fails)."""
    if os.environ.get("XS_TEST_REDIS_URL"):
        yield os.environ["XS_TEST_REDIS_URL"]
        return
    if not redis_available():
        pytest.skip("needs redis-server (Debian package redis-server, installed by make test) or XS_TEST_REDIS_URL")
    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_process():
    """A redis-server of this test alone (the test may pause, stop or restart it)."""
    if not redis_available():
        pytest.skip("needs redis-server (Debian package redis-server, installed by make test)")
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


def fresh_postgres_database(server: str) -> str:
    """A new empty database on the PostgreSQL server at ``server``; its URL."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def backend_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A fresh, empty database of ``backend`` (memory, sqlite or postgresql)."""
    if backend == "memory":
        return MEMORY_URL
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'xiaoshen.db'}"
    # A fresh database per test, so tests never see each other's rows.
    return fresh_postgres_database(request.getfixturevalue("postgres_server"))


def counts(db: Storage) -> dict[str, int]:
    """Rows per table (white-box: the contract says a failed write leaves these unchanged)."""
    db = getattr(db, "inner", db)  # the services' storage signals live updates around the real one
    if isinstance(db, MemoryStorage):
        t = db.conversations._t
        return {
            "conversations": len(t.conversations),
            "messages": len(t.messages),
            "feedback": len(t.feedback),
            "tickets": len(t.tickets),
            "ticket_events": len(t.events),
        }
    assert isinstance(db, Database)
    with db.engine.connect() as conn:
        return {
            t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (ConversationRow, MessageRow, FeedbackRow, TicketRow, TicketEventRow)
        }


