"""Staff sign-in and sign-out, the signed-in session, and the sign-in page.

``POST /api/v1/auth/login`` checks the password (argon2id), counts failures per
account and per client (``assistant.api.login_throttle``: a full window locks
out, 429 with Retry-After), and starts a server-side session in the
``xs_session`` cookie (HttpOnly, Secure, SameSite=Strict, Max-Age the
absolute session limit).  A failure says only that the username or password
is wrong, whichever it was.  Every sign-in, failure, lock-out and sign-out is
in the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.api.accounts import normalise_username, verify_login
from assistant.api.auth import (
    SESSION_COOKIE,
    Principal,
    SessionDep,
    end_session,
    new_session,
    purge_sessions,
    request_storage,
    write_audit,
)
from assistant.core.errors import InvalidInput, XiaoShenError
from ui import UI_DIR

router = APIRouter(prefix="/api/v1/auth", tags=["staff sign-in"])
pages = APIRouter(include_in_schema=False)


class LoginFailed(XiaoShenError):
    """Wrong username or password (which one is never said)."""

    code = "login_failed"
    http_status = 401


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(..., min_length=1, max_length=128)
    password: str = Field(..., min_length=1, max_length=1024)


class SessionOut(BaseModel):
    """The signed-in member of staff and the CSRF token their state-changing requests send."""

    username: str
    roles: list[str]
    csrf_token: str

    @classmethod
    def of(cls, principal: Principal, csrf_token: str) -> SessionOut:
        return cls(username=principal.username, roles=sorted(principal.roles), csrf_token=csrf_token)


@router.post("/login", response_model=SessionOut)
def login(body: LoginIn, request: Request, response: Response) -> SessionOut:
    """Sign in: sets the session cookie and returns the roles and the CSRF token.

    401 ``login_failed`` for any wrong username, password or disabled account;
    429 (Retry-After) while the account or this address is locked out.
    """
    storage = request_storage(request)
    settings = request.app.state.settings.auth
    throttle = request.app.state.login_throttle
    client = request.app.state.limits.client(request)
    try:  # the failures of one account are counted under its stored name, however it is typed
        attempted = normalise_username(body.username)
    except InvalidInput:
        attempted = body.username.strip().casefold()
    throttle.check(attempted, client)
    account = verify_login(storage, body.username, body.password)
    if account is None:
        locked = throttle.failed(attempted, client)
        write_audit(storage, actor=attempted, action="auth.login_failed", target=attempted, client=client)
        if locked:
            write_audit(storage, actor=attempted, action="auth.lockout", target=attempted, client=client)
        raise LoginFailed("the username or password is wrong")
    throttle.succeeded(attempted)
    purge_sessions(storage, settings)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # signing in again (as anyone) ends the session this browser had
        end_session(storage, previous)
    session_id, session = new_session(storage, account.username)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=settings.session_absolute_s,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    write_audit(storage, actor=account.username, action="auth.login", target=account.username, client=client)
    return SessionOut.of(Principal(account.username, frozenset(account.roles)), session.csrf_token)


@router.post("/logout", status_code=204)
def logout(request: Request, signed: SessionDep) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared."""
    storage = request_storage(request)
    end_session(storage, request.cookies.get(SESSION_COOKIE, ""))
    write_audit(
        storage,
        actor=signed.principal.username,
        action="auth.logout",
        target=signed.principal.username,
        client=request.app.state.limits.client(request),
    )
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


@router.get("/me", response_model=SessionOut)
def me(signed: SessionDep) -> SessionOut:
    """Who is signed in, with the session's CSRF token (401 when no one is)."""
    return SessionOut.of(signed.principal, signed.session.csrf_token)


@pages.get("/login")
def login_page() -> FileResponse:
    """The staff sign-in page (``ui/login.html``)."""
    return FileResponse(UI_DIR / "login.html", media_type="text/html")

