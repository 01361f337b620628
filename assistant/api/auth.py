"""Who is calling: staff principals, their roles and sessions, citizens' conversation
tokens, and the audit trail of what staff do.

This module is the one interface every staff route stands on (the helpdesk
console, the service-level reports, the operators' workbench, the audit log):

- ``ROLES`` and ``ROLE_GRANTS``: the four staff roles and what each one may act as.
- ``Principal``: the signed-in member of staff a request acts for.
- ``current_principal`` / ``StaffDep``: the dependency that finds the principal
  (401 when there is none).
- ``require_roles(*roles)``: the dependency a router or route adds to demand one
  of ``roles`` (403 when the principal has none of them).  The route table
  (``assistant.api.access``) already enforces each route's roles app-wide; this
  is for a finer rule inside a route's area.
- ``audit(request, principal, action, target, before=None, after=None)``: append
  one record of a staff action to the audit log (persistent, append-only,
  personal data masked).

Sessions are server-side: the ``xs_session`` cookie (HttpOnly, Secure,
SameSite=Strict) carries a random id, the storage keeps only its sha256 with
the account, the CSRF token and the times; a session ends after
``auth.session_idle_s`` unused or ``auth.session_absolute_s`` after sign-in,
at sign-out, or when its account is disabled.  The roles are read from the
account on every request, so a role change applies at once.

Citizens are never principals: each web conversation has a random token
(``X-Conversation-Token``; the storage keeps its sha256) that opens that
conversation and no other.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from assistant.core import pii
from assistant.core.errors import XiaoShenError
from assistant.core.settings import AuthSettings
from assistant.core.types import AuditRecord, StaffSession, Storage

log = logging.getLogger("assistant.audit")

#: The staff roles, least to most powerful.
ROLES: tuple[str, ...] = ("agent", "kb_operator", "supervisor", "admin")

#: What each role may act as: a supervisor oversees agents and knowledge operators,
#: an admin may do everything (and alone manages accounts and roles).
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "agent": frozenset({"agent"}),
    "kb_operator": frozenset({"kb_operator"}),
    "supervisor": frozenset({"supervisor", "agent", "kb_operator"}),
    "admin": frozenset(ROLES),
}

#: The session cookie (its value is the random session id).
SESSION_COOKIE = "xs_session"
#: The header carrying the session's CSRF token on state-changing staff requests.
CSRF_HEADER = "X-CSRF-Token"
#: The header carrying a citizen's conversation token.
CONVERSATION_TOKEN_HEADER = "X-Conversation-Token"
#: Methods that change state: a staff request with one of them must carry the CSRF token.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Unauthorized(XiaoShenError):
    """A staff endpoint was called by someone who is not signed in."""

    code = "unauthorized"
    http_status = 401


class Forbidden(XiaoShenError):
    """The signed-in member of staff lacks the role this endpoint needs."""

    code = "forbidden"
    http_status = 403


class NotStarted(XiaoShenError):
    """The storage is not open yet (the lifespan is still building the services)."""

    code = "not_ready"
    http_status = 503


class CsrfFailed(XiaoShenError):
    """A state-changing staff request without the session's CSRF token."""

    code = "csrf_failed"
    http_status = 403


@dataclass(frozen=True)
class Principal:
    """The member of staff a request acts for."""

    username: str
    #: the roles the account holds (a subset of ``ROLES``)
    roles: frozenset[str]

    def acts_as(self, role: str) -> bool:
        """True when one of the account's roles grants ``role``."""
        return any(role in ROLE_GRANTS.get(r, ()) for r in self.roles)


@dataclass(frozen=True)
class SignedIn:
    """A live staff session and the principal it acts for."""

    principal: Principal
    session: StaffSession


def secret_hash(secret: str) -> str:
    """The sha256 (hex) under which a random secret (session id, conversation token) is stored.

    The secrets are 256 random bits, so a fast hash is enough: no one can guess
    one from its hash, and a stolen table opens nothing."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- sessions


def new_session(storage: Storage, username: str) -> tuple[str, StaffSession]:
    """Start a session for ``username``: (the id for the cookie, the stored session).

    A fresh id at every sign-in, so an id planted before sign-in is worth nothing.
    """
    session_id = secrets.token_urlsafe(32)
    session = storage.sessions.create(secret_hash(session_id), username, secrets.token_urlsafe(32))
    return session_id, session


def resolve_session(storage: Storage, settings: AuthSettings, session_id: str | None) -> SignedIn | None:
    """The live session ``session_id`` names, or None (unknown, expired, account gone or disabled).

    An expired session is deleted on the way; a live one is marked as seen
    (at most every ``session_idle_s / 30`` seconds, so reads stay reads).
    """
    if not session_id:
        return None
    id_hash = secret_hash(session_id)
    session = storage.sessions.find(id_hash)
    if session is None:
        return None
    now = storage.clock()
    if now - session.last_seen_at > timedelta(seconds=settings.session_idle_s) or now - session.created_at > timedelta(
        seconds=settings.session_absolute_s
    ):
        storage.sessions.delete(id_hash)
        return None
    account = storage.accounts.find(session.username)
    if account is None or account.disabled:
        storage.sessions.delete(id_hash)
        return None
    if now - session.last_seen_at > timedelta(seconds=settings.session_idle_s / 30):
        storage.sessions.touch(id_hash)
    return SignedIn(Principal(account.username, frozenset(account.roles)), session)


def end_session(storage: Storage, session_id: str) -> None:
    """Sign out: the session is deleted (its cookie opens nothing any more)."""
    storage.sessions.delete(secret_hash(session_id))


def purge_sessions(storage: Storage, settings: AuthSettings) -> int:
    """Delete every expired session (run at each sign-in; expiry is enforced on use anyway)."""
    now = storage.clock()
    return storage.sessions.purge(
        idle_since=now - timedelta(seconds=settings.session_idle_s),
        created_since=now - timedelta(seconds=settings.session_absolute_s),
    )


def request_storage(request: Request) -> Storage:
    """The app's storage (set by the lifespan), or NotReady."""
    storage = getattr(request.app.state, "storage", None)
    if storage is None:
        raise NotStarted("the server is still starting; retry when GET /readyz answers 200")
    return storage


def signed_in(request: Request) -> SignedIn | None:
    """The request's staff session: found by the access check, or looked up from the cookie."""
    found = getattr(request.state, "staff", None)
    if found is not None:
        return found
    found = resolve_session(
        request_storage(request), request.app.state.settings.auth, request.cookies.get(SESSION_COOKIE)
    )
    request.state.staff = found
    return found


def current_session(request: Request) -> SignedIn:
    """The signed-in session, or ``Unauthorized``."""
    found = signed_in(request)
    if found is None:
        raise Unauthorized("sign in first: POST /api/v1/auth/login (staff pages: /login)")
    return found


def current_principal(request: Request) -> Principal:
    """The signed-in member of staff, or ``Unauthorized``."""
    return current_session(request).principal


StaffDep = Annotated[Principal, Depends(current_principal)]
SessionDep = Annotated[SignedIn, Depends(current_session)]


def require_roles(*roles: str) -> Callable[..., Principal]:
    """A dependency demanding that the principal acts as one of ``roles``."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"require_roles({roles!r}): roles must be among {ROLES}")

    def check(principal: StaffDep) -> Principal:
        if not any(principal.acts_as(r) for r in roles):
            raise Forbidden(f"this endpoint needs the role {' or '.join(roles)}; {principal.username} has none of them")
        return principal

    return check


# --------------------------------------------------------------------------- citizens


def issue_conversation_token(storage: Storage, conversation_id: str) -> str:
    """A new random token for a new conversation (shown once; the storage keeps its sha256)."""
    token = secrets.token_urlsafe(32)
    storage.conversation_tokens.set(conversation_id, secret_hash(token))
    return token


def conversation_token_matches(storage: Storage, conversation_id: str, token: str) -> bool | None:
    """Whether ``token`` opens ``conversation_id``; None when the conversation has no token
    (unknown, or not a web conversation)."""
    stored = storage.conversation_tokens.get(conversation_id)
    if stored is None:
        return None
    return secrets.compare_digest(stored, secret_hash(token))


# --------------------------------------------------------------------------- audit


def masked(value: Any) -> Any:
    """``value`` (JSON-like) with personal data masked in every string, keys included."""
    if isinstance(value, str):
        return pii.mask(value)
    if isinstance(value, dict):
        return {masked(str(k)): masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [masked(v) for v in items]
    return value


def write_audit(
    storage: Storage,
    *,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    client: str = "",
) -> AuditRecord:
    """Append one audit record with personal data masked (the API's ``audit`` and the CLI use it)."""
    record = storage.audit.append(
        actor=pii.mask(actor),
        action=action,
        target=pii.mask(target),
        before=masked(before),
        after=masked(after),
        client=client,
    )
    log.info("audit #%d %s %s %s", record.id, record.actor, record.action, record.target)
    return record


def audit(
    request: Request,
    principal: Principal,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """Append one record of a staff action (who, what, on what, before and after, from where)."""
    write_audit(
        request_storage(request),
        actor=principal.username,
        action=action,
        target=target,
        before=before,
        after=after,
        client=request.app.state.limits.client(request),
    )
