"""Persistence: conversations, messages, feedback and the helpdesk queue.

``open_database(url, helpdesk=...)`` builds the engine (SQLite in WAL mode by
default, PostgreSQL by URL), applies the Alembic migrations and returns a
:class:`Database`, a ``Storage`` whose ``conversations``, ``queue`` and
``reports`` implement the ConversationStore, HandoffQueue and
ServiceLevelReports protocols.  ``assistant.db.memory.open_memory`` is the
same contract in one process (tests, demos); ``open_storage`` picks by URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine

from assistant.db.accounts import SqlAccountStore, SqlAuditLog, SqlConversationTokens, SqlSessionStore
from assistant.db.engine import make_engine, migrate
from assistant.db.idempotency import SqlIdempotencyStore
from assistant.db.queue import SqlHandoffQueue
from assistant.db.reports import SqlServiceLevelReports
from assistant.db.store import SqlConversationStore
from assistant.db.vault import make_vault
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import Storage

#: URL of the in-process store (nothing survives the process).
MEMORY_URL = "memory://"


def utc_now() -> datetime:
    """The current time, aware, in UTC (the default clock)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Database:
    """An opened, migrated database and the stores built on it (a ``Storage``)."""

    url: str
    engine: Engine
    conversations: SqlConversationStore
    queue: SqlHandoffQueue
    reports: SqlServiceLevelReports
    idempotency: SqlIdempotencyStore
    clock: Callable[[], datetime]
    accounts: SqlAccountStore
    sessions: SqlSessionStore
    audit: SqlAuditLog
    conversation_tokens: SqlConversationTokens

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query (readiness)."""
        from sqlalchemy import text

        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database(
    url: str,
    *,
    helpdesk: HelpdeskSettings,
    clock: Callable[[], datetime] = utc_now,
    privacy_key: str = "",
) -> Database:
    """Open ``url``, apply migrations, and return the stores.

    ``clock`` returns aware UTC datetimes; tests pass a scripted one.
    ``privacy_key`` (a Fernet key, ``XS_PRIVACY__KEY``) encrypts the typed
    originals of masked messages; empty: originals are not kept.
    """
    engine = make_engine(url)
    migrate(engine)
    return Database(
        url=url,
        engine=engine,
        conversations=SqlConversationStore(engine, clock=clock, vault=make_vault(privacy_key)),
        queue=SqlHandoffQueue(engine, clock=clock, lease_s=helpdesk.claim_lease_s),
        reports=SqlServiceLevelReports(engine),
        idempotency=SqlIdempotencyStore(engine, clock=clock),
        clock=clock,
        accounts=SqlAccountStore(engine, clock),
        sessions=SqlSessionStore(engine, clock),
        audit=SqlAuditLog(engine, clock),
        conversation_tokens=SqlConversationTokens(engine, clock),
    )


def open_storage(
    url: str,
    *,
    helpdesk: HelpdeskSettings,
    clock: Callable[[], datetime] = utc_now,
    privacy_key: str = "",
) -> Storage:
    """The storage backend ``url`` names: ``memory://`` in this process, else a SQL database.

    The in-memory backend is chosen only by its URL, never as a fallback:
    an unreachable database stops start-up instead of losing data quietly.
    """
    if url == MEMORY_URL:
        from assistant.db.memory import open_memory

        return open_memory(helpdesk=helpdesk, clock=clock, privacy_key=privacy_key)
    return open_database(url, helpdesk=helpdesk, clock=clock, privacy_key=privacy_key)


__all__ = [
    "Database",
    "MEMORY_URL",
    "open_database",
    "open_storage",
    "utc_now",
    "SqlConversationStore",
    "SqlHandoffQueue",
    "SqlServiceLevelReports",
]
