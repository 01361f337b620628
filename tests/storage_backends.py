"""Storage backends for tests: a throw-away PostgreSQL server, fresh databases, row counts.

PostgreSQL: ``XS_TEST_POSTGRES_URL`` if set, else a throw-away cluster started
with the local ``initdb``/``pg_ctl`` (skipped, with the reason, when they are
missing; ``make test`` installs Debian's postgresql, and in CI a skip fails).
``postgres_server`` is registered in conftest.py so that one cluster serves the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from assistant.core.types import Storage
from assistant.db import MEMORY_URL, Database
from assistant.db.memory import MemoryStorage
from assistant.db.models import ConversationRow, FeedbackRow, MessageRow, TicketEventRow, TicketRow

#: every storage backend; the contract suite runs on each.
BACKENDS = ["memory", "sqlite", "postgresql"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server URL for the session (see the module docstring)."""
    if os.environ.get("XS_TEST_POSTGRES_URL"):
        yield os.environ["XS_TEST_POSTGRES_URL"]
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL contract tests need initdb and pg_ctl on PATH, or XS_TEST_POSTGRES_URL")
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="xs-pg-")
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run the throw-away cluster as 'postgres'.
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start a PostgreSQL cluster")
        shutil.chown(root, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), _free_port()
    try:
        subprocess.run(
            [*as_user, initdb, "-D", data, "-A", "trust", "-U", "xs", "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_user, pg_ctl, "-D", data, "-w", "-l", os.path.join(root, "log"),
                "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL cluster: {e}")
    try:
        yield f"postgresql+psycopg://xs@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def backend_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A fresh, empty database of ``backend`` (memory, sqlite or postgresql)."""
    if backend == "memory":
        return MEMORY_URL
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'xiaoshen.db'}"
    server = request.getfixturevalue("postgres_server")
    # A fresh database per test, so tests never see each other's rows.
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


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


