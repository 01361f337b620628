"""Engines and migrations: SQLite (WAL) by default, PostgreSQL by URL.

SQLite is opened so that it behaves like the production database where it
matters: foreign keys enforced, WAL so readers never block the writer, and
write transactions started with ``BEGIN IMMEDIATE`` so that concurrent writers
queue on the lock (up to ``busy_timeout``) instead of failing half-way with
``database is locked`` when a read lock cannot be upgraded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from assistant.core.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: execution option marking a connection whose transactions write.
WRITE_OPTION = "xs_write"
#: seconds a SQLite writer waits for the lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30


def normalise_url(url: str) -> str:
    """The SQLAlchemy URL to use; ``postgresql://`` means the psycopg 3 driver we ship."""
    if not url:
        raise ConfigError("database URL is empty; pass e.g. sqlite:///data/xiaoshen.db")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An Engine for ``url`` with the pragmas and transaction mode described above."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as e:
        raise ConfigError(
            f"database URL {url!r} is not a SQLAlchemy URL ({e}); "
            "use sqlite:///path/to/file.db or postgresql+psycopg://user:pass@host/db"
        ) from e
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ConfigError(
                f"database URL {url!r} uses driver {parsed.get_driver_name()!r}; "
                "use postgresql+psycopg://… (install with: pip install 'xiaoshen[postgres]')"
            )
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise ConfigError(
                "PostgreSQL needs psycopg 3; install it with: pip install 'xiaoshen[postgres]'"
            ) from e
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise ConfigError(
        f"database backend {parsed.get_backend_name()!r} of {url!r} is not supported; "
        "use sqlite:///path/to/file.db or postgresql+psycopg://user:pass@host/db"
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    memory = not database or database == ":memory:"
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
    }
    if memory:
        # One shared connection, or every pooled connection would see its own empty database.
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over BEGIN from the driver so that we can choose IMMEDIATE for writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (only an OS crash may lose the last commit).
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


#: PostgreSQL advisory lock key held while migrating (any constant; "xiaoshen" in ASCII).
_MIGRATION_LOCK = 0x7869616F7368656E


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision`` (idempotent).

    Several server processes may start at once: SQLite's ``BEGIN IMMEDIATE``
    and a PostgreSQL advisory lock let one migrate while the others wait.
    """
    _run_migration(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Revert the migrations down to ``revision`` (``base`` removes every table)."""
    _run_migration(engine, lambda config: command.downgrade(config, revision))


def _run_migration(engine: Engine, run: Callable[[Config], None]) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        run(config)


def current_revision(engine: Engine) -> str | None:
    """The migration revision the database is at (None before the first)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "no migrations found"
    return head
