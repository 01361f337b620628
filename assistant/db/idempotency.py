"""Idempotency keys of message posts, in memory and in SQL (one contract, tests/test_db_contract.py).

A key is scoped to its conversation.  ``claim`` is atomic: of two concurrent
claims of one key exactly one gets None (go ahead); the other sees the record
(pending, or done with the stored response).  A pending claim older than
``stale_after_s`` (its request died) may be taken over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assistant.core.types import IdempotencyRecord
from assistant.db.engine import WRITE_OPTION
from assistant.db.models import IdempotencyRow


class MemoryIdempotencyStore:
    """The in-process IdempotencyStore."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], IdempotencyRecord] = {}

    def claim(self, conversation_id: str, key: str, fingerprint: str, *, stale_after_s: float) -> IdempotencyRecord | None:
        now = self._clock().astimezone(timezone.utc)
        with self._lock:
            row = self._rows.get((conversation_id, key))
            if row is None or (row.response is None and row.claimed_at <= now - timedelta(seconds=stale_after_s)):
                self._rows[(conversation_id, key)] = IdempotencyRecord(conversation_id, key, fingerprint, now)
                return None
            return row

    def complete(self, conversation_id: str, key: str, response: str) -> None:
        with self._lock:
            row = self._rows[(conversation_id, key)]
            self._rows[(conversation_id, key)] = replace(row, response=response)

    def release(self, conversation_id: str, key: str) -> None:
        with self._lock:
            row = self._rows.get((conversation_id, key))
            if row is not None and row.response is None:
                del self._rows[(conversation_id, key)]


def _record(row: IdempotencyRow) -> IdempotencyRecord:
    return IdempotencyRecord(row.conversation_id, row.key, row.fingerprint, row.claimed_at, row.response)


class SqlIdempotencyStore:
    """The IdempotencyStore in the ``idempotency_keys`` table (SQLite, PostgreSQL)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._clock = clock

    def _session(self) -> Session:
        return Session(self._write_engine, expire_on_commit=False)

    def claim(self, conversation_id: str, key: str, fingerprint: str, *, stale_after_s: float) -> IdempotencyRecord | None:
        now = self._clock()
        try:
            with self._session() as session, session.begin():
                row = session.scalar(
                    select(IdempotencyRow)
                    .where(IdempotencyRow.conversation_id == conversation_id, IdempotencyRow.key == key)
                    .with_for_update()
                )
                if row is None:
                    session.add(IdempotencyRow(conversation_id=conversation_id, key=key, fingerprint=fingerprint, claimed_at=now))
                    return None
                if row.response is None and row.claimed_at <= now - timedelta(seconds=stale_after_s):
                    row.fingerprint, row.claimed_at = fingerprint, now
                    return None
                return _record(row)
        except IntegrityError:
            # PostgreSQL: a concurrent claim inserted the key first; it won, read what it holds.
            with self._session() as session, session.begin():
                row = session.get(IdempotencyRow, (conversation_id, key))
                assert row is not None  # the winner's insert committed before ours failed
                return _record(row)

    def complete(self, conversation_id: str, key: str, response: str) -> None:
        with self._session() as session, session.begin():
            row = session.get(IdempotencyRow, (conversation_id, key), with_for_update=True)
            if row is not None:
                row.response = response

    def release(self, conversation_id: str, key: str) -> None:
        with self._session() as session, session.begin():
            row = session.get(IdempotencyRow, (conversation_id, key), with_for_update=True)
            if row is not None and row.response is None:
                session.delete(row)
