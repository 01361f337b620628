"""Idempotency keys of message posts, in memory and in SQL (one contract, tests/test_db_contract.py).

A key is scoped to its conversation.  ``claim`` is atomic: of two concurrent
claims of one key exactly one gets None (go ahead); the other sees the record
(pending, or done with the stored response).  A pending claim older than
``stale_after_s`` (its request died) may be taken over.

The response is stored in the transaction that stores the turn
(``record_turn(..., idempotency=IdempotentWrite)``: :func:`open_in` before the
turn's rows, :func:`finish_in` after them), so a process killed at any moment
leaves the turn and its key together or neither; a takeover of a claim whose
first request was only slow cannot store the message twice either, because
whichever commits second finds the response and writes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assistant.core.errors import AlreadyRecorded
from assistant.core.types import IdempotencyRecord, IdempotentWrite, Ticket, Turn
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

    def open_for(self, conversation_id: str, write: IdempotentWrite) -> None:
        """AlreadyRecorded when ``write.key`` already has a response (the caller writes nothing)."""
        with self._lock:
            row = self._rows.get((conversation_id, write.key))
            if row is not None and row.response is not None:
                raise AlreadyRecorded(write.key, row.fingerprint, row.response)

    def finish(self, conversation_id: str, write: IdempotentWrite, response: str) -> None:
        """Store the response of ``write.key`` (the turn was written under the same lock)."""
        with self._lock:
            self._rows[(conversation_id, write.key)] = IdempotencyRecord(
                conversation_id, write.key, write.fingerprint, self._clock().astimezone(timezone.utc), response
            )

    def complete(self, conversation_id: str, key: str, response: str) -> None:
        with self._lock:
            row = self._rows[(conversation_id, key)]
            self._rows[(conversation_id, key)] = replace(row, response=response)

    def release(self, conversation_id: str, key: str) -> None:
        with self._lock:
            row = self._rows.get((conversation_id, key))
            if row is not None and row.response is None:
                del self._rows[(conversation_id, key)]


def open_in(session: Session, conversation_id: str, write: IdempotentWrite) -> IdempotencyRow | None:
    """In the turn's transaction: the key's row, locked (None if it has none);
    AlreadyRecorded when the key already has a response (the transaction then writes nothing)."""
    row = session.get(IdempotencyRow, (conversation_id, write.key), with_for_update=True)
    if row is not None and row.response is not None:
        raise AlreadyRecorded(write.key, row.fingerprint, row.response)
    return row


def finish_in(
    session: Session,
    row: IdempotencyRow | None,
    conversation_id: str,
    write: IdempotentWrite,
    stored: tuple[Turn, Turn, Ticket | None],
    now: datetime,
) -> None:
    """In the turn's transaction, after its rows: store the key's response (made from the stored turn)."""
    response = write.render(*stored)
    if row is None:  # released or never claimed: the key is written now, with the turn
        session.add(
            IdempotencyRow(
                conversation_id=conversation_id, key=write.key, fingerprint=write.fingerprint, claimed_at=now,
                response=response,
            )
        )
    else:
        row.fingerprint, row.response = write.fingerprint, response


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
