"""Persistence: conversations, messages, feedback and the helpdesk queue.

``open_database(url, helpdesk=...)`` builds the engine (SQLite in WAL mode by
default, PostgreSQL by URL), applies the Alembic migrations and returns a
:class:`Database` whose ``conversations`` and ``queue`` implement the
ConversationStore and HandoffQueue protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine

from assistant.db.engine import make_engine, migrate
from assistant.db.queue import SqlHandoffQueue
from assistant.db.reports import Reports
from assistant.db.store import SqlConversationStore
from assistant.core.settings import HelpdeskSettings


def utc_now() -> datetime:
    """The current time, aware, in UTC (the default clock)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Database:
    """An opened, migrated database and the stores built on it."""

    url: str
    engine: Engine
    conversations: SqlConversationStore
    queue: SqlHandoffQueue
    reports: Reports
    clock: Callable[[], datetime]

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
) -> Database:
    """Open ``url``, apply migrations, and return the stores.

    ``clock`` returns aware UTC datetimes; tests pass a scripted one.
    """
    engine = make_engine(url)
    migrate(engine)
    database = Database(
        url=url,
        engine=engine,
        conversations=SqlConversationStore(engine, clock=clock),
        queue=SqlHandoffQueue(engine, clock=clock, lease_s=helpdesk.claim_lease_s),
        reports=Reports(engine),
        clock=clock,
    )
    # The API and the helpdesk reach the whole database from the assistant's store.
    database.conversations.database = database
    return database


__all__ = ["Database", "open_database", "utc_now", "SqlConversationStore", "SqlHandoffQueue"]
