"""Staff accounts, their sessions, the audit log and citizens' conversation tokens,
in memory and in SQL (one contract, tests/test_db_accounts.py).

The stores keep what they are given: hashes of passwords, session ids and
conversation tokens (``assistant.api`` hashes them), and audit values already
masked.  Every timestamp comes from the storage clock.  The audit log has no
update or delete here, and the SQL table refuses both (migration 0005).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import Engine, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assistant.core.errors import Conflict, NotFound
from assistant.core.types import Account, AuditRecord, StaffSession
from assistant.db.engine import WRITE_OPTION
from assistant.db.models import AuditRow, ConversationRow, ConversationTokenRow, StaffAccountRow, StaffSessionRow

#: longest stored actor and target (longer ones are cut, never refused: an audit write must not fail on length).
ACTOR_CHARS = 128
TARGET_CHARS = 256
CLIENT_CHARS = 64
#: most audit records one query returns.
MAX_AUDIT_PAGE = 500


def _aware(clock: Callable[[], datetime]) -> datetime:
    value = clock()
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to the database; pass an aware UTC datetime")
    return value.astimezone(timezone.utc)


def _roles(roles: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(set(roles)))


def _json(value: object) -> object:
    """The value as the JSON column would give it back (a value JSON cannot hold fails here too)."""
    return None if value is None else json.loads(json.dumps(value, ensure_ascii=False))


def _account_missing(username: str) -> NotFound:
    return NotFound(f"account {username!r} does not exist; `xiaoshen accounts list` shows the accounts")


def _page(limit: int) -> int:
    return max(1, min(int(limit), MAX_AUDIT_PAGE))


def _action_matches(pattern: str | None, action: str) -> bool:
    if pattern is None:
        return True
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    return action == pattern


# --------------------------------------------------------------------------- in memory


class MemoryAccountStore:
    """The in-process AccountStore."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._rows: dict[str, Account] = {}

    def create(self, username: str, *, password_hash: str, roles: Sequence[str]) -> Account:
        with self._lock:
            if username in self._rows:
                raise Conflict(f"account {username!r} exists already; choose another username")
            now = _aware(self._clock)
            account = Account(username, _roles(roles), password_hash, False, now, now)
            self._rows[username] = account
            return account

    def find(self, username: str) -> Account | None:
        with self._lock:
            return self._rows.get(username)

    def list(self) -> list[Account]:
        with self._lock:
            return [self._rows[u] for u in sorted(self._rows)]

    def _change(self, username: str, **fields: object) -> Account:
        with self._lock:
            account = self._rows.get(username)
            if account is None:
                raise _account_missing(username)
            changed = replace(account, updated_at=_aware(self._clock), **fields)  # type: ignore[arg-type]
            self._rows[username] = changed
            return changed

    def set_roles(self, username: str, roles: Sequence[str]) -> Account:
        return self._change(username, roles=_roles(roles))

    def set_disabled(self, username: str, disabled: bool) -> Account:
        return self._change(username, disabled=bool(disabled))

    def set_password(self, username: str, password_hash: str) -> Account:
        return self._change(username, password_hash=password_hash)


class MemorySessionStore:
    """The in-process SessionStore."""

    def __init__(self, clock: Callable[[], datetime], accounts: MemoryAccountStore) -> None:
        self._clock = clock
        self._accounts = accounts
        self._lock = threading.Lock()
        self._rows: dict[str, StaffSession] = {}

    def create(self, id_hash: str, username: str, csrf_token: str) -> StaffSession:
        if self._accounts.find(username) is None:
            raise _account_missing(username)
        now = _aware(self._clock)
        session = StaffSession(id_hash, username, csrf_token, now, now)
        with self._lock:
            if id_hash in self._rows:
                raise Conflict("a session with this id exists already")
            self._rows[id_hash] = session
        return session

    def find(self, id_hash: str) -> StaffSession | None:
        with self._lock:
            return self._rows.get(id_hash)

    def touch(self, id_hash: str) -> None:
        with self._lock:
            session = self._rows.get(id_hash)
            if session is not None:
                self._rows[id_hash] = replace(session, last_seen_at=_aware(self._clock))

    def delete(self, id_hash: str) -> None:
        with self._lock:
            self._rows.pop(id_hash, None)

    def delete_for(self, username: str) -> int:
        with self._lock:
            gone = [h for h, s in self._rows.items() if s.username == username]
            for h in gone:
                del self._rows[h]
            return len(gone)

    def purge(self, *, idle_since: datetime, created_since: datetime) -> int:
        with self._lock:
            gone = [h for h, s in self._rows.items() if s.last_seen_at < idle_since or s.created_at < created_since]
            for h in gone:
                del self._rows[h]
            return len(gone)


class MemoryAuditLog:
    """The in-process AuditLog: a list that only grows."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: list[AuditRecord] = []

    def append(
        self, *, actor: str, action: str, target: str, before: object = None, after: object = None, client: str = ""
    ) -> AuditRecord:
        before, after = _json(before), _json(after)
        with self._lock:
            record = AuditRecord(
                id=len(self._rows) + 1,
                at=_aware(self._clock),
                actor=actor[:ACTOR_CHARS],
                action=action,
                target=target[:TARGET_CHARS],
                before=before,
                after=after,
                client=client[:CLIENT_CHARS],
            )
            self._rows.append(record)
            return record

    def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[AuditRecord]:
        with self._lock:
            rows = list(self._rows)
        found = [
            r
            for r in reversed(rows)
            if (actor is None or r.actor == actor)
            and _action_matches(action, r.action)
            and (since is None or r.at >= since)
            and (before_id is None or r.id < before_id)
        ]
        return found[: _page(limit)]


class MemoryConversationTokens:
    """The in-process ConversationTokens; ``exists`` says whether a conversation exists."""

    def __init__(self, exists: Callable[[str], bool]) -> None:
        self._exists = exists
        self._lock = threading.Lock()
        self._rows: dict[str, str] = {}

    def set(self, conversation_id: str, token_hash: str) -> None:
        if not self._exists(conversation_id):
            raise NotFound(f"conversation {conversation_id!r} does not exist")
        with self._lock:
            if conversation_id in self._rows:
                raise Conflict(f"conversation {conversation_id!r} has a token already")
            self._rows[conversation_id] = token_hash

    def get(self, conversation_id: str) -> str | None:
        with self._lock:
            return self._rows.get(conversation_id)


# --------------------------------------------------------------------------- SQL


class _Sql:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._clock = clock

    def _read(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def _write(self) -> Session:
        return Session(self._write_engine, expire_on_commit=False)


def _account(row: StaffAccountRow) -> Account:
    return Account(
        row.username, tuple(row.roles), row.password_hash, bool(row.disabled), row.created_at, row.updated_at
    )


class SqlAccountStore(_Sql):
    """The AccountStore in ``staff_accounts``."""

    def create(self, username: str, *, password_hash: str, roles: Sequence[str]) -> Account:
        now = _aware(self._clock)
        taken = Conflict(f"account {username!r} exists already; choose another username")
        try:
            with self._write() as session, session.begin():
                if session.get(StaffAccountRow, username) is not None:
                    raise taken
                row = StaffAccountRow(
                    username=username,
                    roles=list(_roles(roles)),
                    password_hash=password_hash,
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                return _account(row)
        except IntegrityError as e:  # a concurrent create of the same name won
            raise taken from e

    def find(self, username: str) -> Account | None:
        with self._read() as session:
            row = session.get(StaffAccountRow, username)
            return _account(row) if row is not None else None

    def list(self) -> list[Account]:
        with self._read() as session:
            return [_account(r) for r in session.scalars(select(StaffAccountRow).order_by(StaffAccountRow.username))]

    def _change(self, username: str, **fields: object) -> Account:
        with self._write() as session, session.begin():
            row = session.get(StaffAccountRow, username, with_for_update=True)
            if row is None:
                raise _account_missing(username)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = _aware(self._clock)
            session.flush()
            return _account(row)

    def set_roles(self, username: str, roles: Sequence[str]) -> Account:
        return self._change(username, roles=list(_roles(roles)))

    def set_disabled(self, username: str, disabled: bool) -> Account:
        return self._change(username, disabled=bool(disabled))

    def set_password(self, username: str, password_hash: str) -> Account:
        return self._change(username, password_hash=password_hash)


def _session(row: StaffSessionRow) -> StaffSession:
    return StaffSession(row.id_hash, row.username, row.csrf_token, row.created_at, row.last_seen_at)


class SqlSessionStore(_Sql):
    """The SessionStore in ``staff_sessions``."""

    def create(self, id_hash: str, username: str, csrf_token: str) -> StaffSession:
        now = _aware(self._clock)
        with self._write() as session, session.begin():
            if session.get(StaffAccountRow, username) is None:
                raise _account_missing(username)
            if session.get(StaffSessionRow, id_hash) is not None:
                raise Conflict("a session with this id exists already")
            row = StaffSessionRow(
                id_hash=id_hash, username=username, csrf_token=csrf_token, created_at=now, last_seen_at=now
            )
            session.add(row)
            session.flush()
            return _session(row)

    def find(self, id_hash: str) -> StaffSession | None:
        with self._read() as session:
            row = session.get(StaffSessionRow, id_hash)
            return _session(row) if row is not None else None

    def touch(self, id_hash: str) -> None:
        with self._write() as session, session.begin():
            row = session.get(StaffSessionRow, id_hash)
            if row is not None:
                row.last_seen_at = _aware(self._clock)

    def delete(self, id_hash: str) -> None:
        with self._write() as session, session.begin():
            session.execute(delete(StaffSessionRow).where(StaffSessionRow.id_hash == id_hash))

    def delete_for(self, username: str) -> int:
        with self._write() as session, session.begin():
            result = session.execute(delete(StaffSessionRow).where(StaffSessionRow.username == username))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def purge(self, *, idle_since: datetime, created_since: datetime) -> int:
        with self._write() as session, session.begin():
            result = session.execute(
                delete(StaffSessionRow).where(
                    or_(StaffSessionRow.last_seen_at < idle_since, StaffSessionRow.created_at < created_since)
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(row.id, row.at, row.actor, row.action, row.target, row.before, row.after, row.client)


class SqlAuditLog(_Sql):
    """The AuditLog in ``audit_log`` (INSERT and SELECT only)."""

    def append(
        self, *, actor: str, action: str, target: str, before: object = None, after: object = None, client: str = ""
    ) -> AuditRecord:
        with self._write() as session, session.begin():
            row = AuditRow(
                at=_aware(self._clock),
                actor=actor[:ACTOR_CHARS],
                action=action,
                target=target[:TARGET_CHARS],
                before=_json(before),
                after=_json(after),
                client=client[:CLIENT_CHARS],
            )
            session.add(row)
            session.flush()
            return _record(row)

    def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[AuditRecord]:
        statement = select(AuditRow).order_by(AuditRow.id.desc()).limit(_page(limit))
        if actor is not None:
            statement = statement.where(AuditRow.actor == actor)
        if action is not None:
            if action.endswith(".*"):
                statement = statement.where(AuditRow.action.startswith(action[:-1], autoescape=True))
            else:
                statement = statement.where(AuditRow.action == action)
        if since is not None:
            statement = statement.where(AuditRow.at >= since)
        if before_id is not None:
            statement = statement.where(AuditRow.id < before_id)
        with self._read() as session:
            return [_record(r) for r in session.scalars(statement)]


class SqlConversationTokens(_Sql):
    """The ConversationTokens in ``conversation_tokens``."""

    def set(self, conversation_id: str, token_hash: str) -> None:
        with self._write() as session, session.begin():
            if session.get(ConversationRow, conversation_id) is None:
                raise NotFound(f"conversation {conversation_id!r} does not exist")
            if session.get(ConversationTokenRow, conversation_id) is not None:
                raise Conflict(f"conversation {conversation_id!r} has a token already")
            session.add(ConversationTokenRow(conversation_id=conversation_id, token_hash=token_hash))

    def get(self, conversation_id: str) -> str | None:
        with self._read() as session:
            row = session.get(ConversationTokenRow, conversation_id)
            return row.token_hash if row is not None else None
