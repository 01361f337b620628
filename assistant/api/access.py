"""THE route table: who may call each route of the app, enforced in one place.

Every route (API, pages, assets, health, metrics, docs) has a row in
``ROUTES``: ``(method, path, rule)`` where ``method`` is an HTTP method or
``*`` and ``path`` is the route's path template exactly as declared
(``/api/v1/conversations/{conversation_id}``) or a prefix ending in ``/*``
(``/api/v1/helpdesk/*``).  The most specific row wins: an exact template
before a prefix, a longer prefix before a shorter one, a named method before
``*``.  Whoever adds a route adds its row here (a one-line edit);
tests/test_access_matrix.py fails on any route without one, and a route
without a row is refused (403), never open.

Rules:

- ``PUBLIC``: anyone.
- ``CITIZEN``: the conversation's own token (``X-Conversation-Token``; the
  live event stream, which cannot set headers, also takes ``?token=``).  No
  token: 401; another conversation's token: 403; no such conversation: 404.
- ``staff(*roles)``: a signed-in member of staff acting as one of ``roles``
  (``Principal.acts_as``: a supervisor passes an ``agent`` rule); no role
  given: anyone signed in.  Not signed in: 401, or for a page a redirect to
  ``/login?next=…``; lacking the role: 403.  POST, PUT, PATCH and DELETE also
  need the session's CSRF token in ``X-CSRF-Token`` (403 ``csrf_failed``).
  ``scrape_token``: Prometheus may instead send ``Authorization: Bearer
  <auth.metrics_token>``.

:func:`enforce` is the app's innermost HTTP middleware (``create_app``): it
finds the route, reads its rule and answers a refused request itself, before
any body is read or any handler runs.  :func:`checked`, an app-wide
dependency, makes sure no FastAPI route ever runs without that check.
"""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from re import Pattern
from typing import Literal
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path

from assistant.api.auth import (
    CONVERSATION_TOKEN_HEADER,
    CSRF_HEADER,
    ROLES,
    SESSION_COOKIE,
    STATE_CHANGING,
    Forbidden,
    SignedIn,
    conversation_token_matches,
    resolve_session,
)
from assistant.api.errors import error_response

log = logging.getLogger("assistant.api")

Audience = Literal["public", "citizen", "staff"]


@dataclass(frozen=True)
class Rule:
    """Who may call a route (see the module docstring)."""

    audience: Audience
    #: staff: the principal must act as one of these (empty: anyone signed in).
    roles: tuple[str, ...] = ()
    #: staff: a browser page (no session: redirect to /login instead of 401).
    page: bool = False
    #: citizen: the token may come as ``?token=`` (EventSource cannot send headers).
    token_in_query: bool = False
    #: staff: ``Authorization: Bearer <auth.metrics_token>`` also admits (Prometheus).
    scrape_token: bool = False

    def __post_init__(self) -> None:
        unknown = [r for r in self.roles if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown roles {unknown} in an access rule; use {ROLES}")
        if self.roles and self.audience != "staff":
            raise ValueError("only a staff rule names roles")

    def describe(self) -> str:
        """One line for people: ``public``, ``citizen``, ``staff: agent``."""
        if self.audience != "staff":
            return self.audience
        return "staff: " + (" or ".join(self.roles) if self.roles else "any signed-in account")


PUBLIC = Rule("public")
CITIZEN = Rule("citizen")
#: the citizen's live event stream (EventSource): the token may come in the query.
CITIZEN_STREAM = Rule("citizen", token_in_query=True)


def staff(*roles: str, page: bool = False, scrape_token: bool = False) -> Rule:
    """A staff rule: signed in and acting as one of ``roles`` (none: any account)."""
    return Rule("staff", tuple(roles), page=page, scrape_token=scrape_token)


SIGNED_IN = staff()

_C = "/api/v1/conversations/{conversation_id}"

#: THE route table: (method or "*", path template or prefix ending in "/*", rule).
ROUTES: tuple[tuple[str, str, Rule], ...] = (
    # citizens: the web chat and its API (each conversation opened only by its own token)
    ("GET", "/", PUBLIC),
    ("POST", "/api/v1/conversations", PUBLIC),
    ("GET", _C, CITIZEN),
    ("POST", _C + "/messages", CITIZEN),
    ("POST", _C + "/messages/stream", CITIZEN),
    ("POST", _C + "/handoff", CITIZEN),
    ("POST", _C + "/feedback", CITIZEN),
    ("POST", _C + "/reopen", CITIZEN),
    ("GET", _C + "/queue", CITIZEN),
    ("GET", _C + "/events", CITIZEN_STREAM),
    # the policy check-up for other channels: a profile in, verdicts out (nothing stored)
    ("POST", "/api/v1/checkup", PUBLIC),
    # staff: signing in and out
    ("GET", "/login", PUBLIC),
    ("POST", "/api/v1/auth/login", PUBLIC),
    ("POST", "/api/v1/auth/logout", SIGNED_IN),
    ("GET", "/api/v1/auth/me", SIGNED_IN),
    # the helpdesk console
    ("GET", "/console", staff("agent", page=True)),
    ("*", "/api/v1/helpdesk/*", staff("agent")),
    # revealing a masked number: the agent holding the ticket, or a supervisor (checked in the route)
    ("POST", "/api/v1/helpdesk/tickets/{ticket_id}/messages/{message_id}/reveal", staff("agent", "supervisor")),
    # service levels (the dashboard) and the server's own metrics
    ("GET", "/dashboard", staff("supervisor", page=True)),
    ("GET", "/api/v1/metrics", staff("supervisor")),
    ("GET", "/api/v1/metrics/*", staff("supervisor")),
    ("GET", "/metrics", staff("supervisor", scrape_token=True)),
    # the knowledge operators' workbench and the evaluators' runs (issue 15); publishing over
    # a failing gate also needs a supervisor, checked by the route; the dashboard's workbench
    # figures have the dashboard's audience
    ("GET", "/workbench", staff("kb_operator", page=True)),
    ("GET", "/evaluation", staff("kb_operator", page=True)),
    ("*", "/api/v1/workbench/*", staff("kb_operator")),
    ("GET", "/api/v1/workbench/insights", staff("supervisor")),
    ("*", "/api/v1/evaluation/*", staff("kb_operator")),
    # accounts and the audit log
    ("*", "/api/v1/accounts", staff("admin")),
    ("*", "/api/v1/accounts/*", staff("admin")),
    ("GET", "/api/v1/audit", staff("supervisor")),
    # the pages' scripts and styles, health, and the API docs (development mode only)
    ("GET", "/ui/{name}", PUBLIC),
    ("GET", "/healthz", PUBLIC),
    ("GET", "/readyz", PUBLIC),
    ("GET", "/openapi.json", PUBLIC),
    ("GET", "/docs", PUBLIC),
    ("GET", "/docs/oauth2-redirect", PUBLIC),
    ("GET", "/redoc", PUBLIC),
)


def rule_for(method: str, path: str, table: tuple[tuple[str, str, Rule], ...] | None = None) -> Rule | None:
    """The rule of ``method`` on the route declared as ``path`` (a template) in ``table``
    (default ``ROUTES``), or None."""
    method = "GET" if method == "HEAD" else method
    best: tuple[tuple[int, int, int], Rule] | None = None
    for row_method, row_path, rule in ROUTES if table is None else table:
        if row_method not in (method, "*"):
            continue
        if row_path.endswith("/*"):
            if not path.startswith(row_path[:-1]):
                continue
            rank = (0, len(row_path), row_method != "*")
        elif row_path == path:
            rank = (1, len(row_path), row_method != "*")
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, rule)
    return best[1] if best else None


# --------------------------------------------------------------------------- the app's routes


@dataclass(frozen=True)
class AppRoute:
    """A route of the app as the access check sees it: its template, methods and matcher."""

    path: str
    #: None: every method (a mount).
    methods: frozenset[str] | None
    regex: Pattern[str] = field(repr=False, compare=False)
    prefix: bool = False


def app_routes(app: FastAPI) -> list[AppRoute]:
    """Every route of ``app`` in matching order, with its full path template."""
    try:  # FastAPI >= 0.16x keeps included routers as one entry; this walks into them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI lists every route flat
        contexts: Iterator[object] = iter(app.routes)
    else:
        contexts = iter_route_contexts(app.routes)
    routes = []
    for route in contexts:
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = getattr(route, "methods", None)
        prefix = methods is None  # a Mount: everything below its path
        regex = compile_path(path.rstrip("/") + "/{rest:path}" if prefix else path)[0]
        routes.append(AppRoute(path, frozenset(methods) if methods else None, regex, prefix))
    return routes


def match(routes: list[AppRoute], method: str, path: str) -> tuple[AppRoute, dict[str, str]] | None:
    """The route ``method path`` reaches (first in order, as Starlette routes), with its parameters."""
    for route in routes:
        found = route.regex.match(path)
        if found is None:
            continue
        if route.methods is not None and method not in route.methods:
            continue
        return route, found.groupdict()
    return None


# --------------------------------------------------------------------------- enforcement


def _storage(request: Request):  # type: ignore[no-untyped-def]
    return getattr(request.app.state, "storage", None)


def _check_citizen(request: Request, rule: Rule, params: dict[str, str]) -> Response | None:
    conversation_id = params.get("conversation_id")
    if conversation_id is None:  # a table mistake: a citizen rule on a route without a conversation
        log.error("citizen rule on %s, which has no {conversation_id}", request.url.path)
        return error_response(403, "forbidden", "this route has no conversation to check a token against")
    token = request.headers.get(CONVERSATION_TOKEN_HEADER)
    if not token and rule.token_in_query:
        token = request.query_params.get("token")
    if not token:
        return error_response(
            401,
            "unauthorized",
            f"this conversation's token is needed: send the {CONVERSATION_TOKEN_HEADER} header with the "
            "token that POST /api/v1/conversations returned",
        )
    storage = _storage(request)
    if storage is None:
        return error_response(503, "not_ready", "the server is still starting; retry when GET /readyz answers 200")
    matches = conversation_token_matches(storage, conversation_id, token)
    if matches is None:
        return error_response(404, "not_found", f"conversation {conversation_id!r} does not exist")
    if not matches:
        return error_response(
            403,
            "forbidden",
            f"this token does not open conversation {conversation_id!r}; use that conversation's own token",
        )
    return None


def _scrape_token_ok(request: Request) -> bool:
    expected = request.app.state.settings.auth.metrics_token.get_secret_value()
    given = request.headers.get("authorization", "")
    if not expected or not given.lower().startswith("bearer "):
        return False
    return secrets.compare_digest(given[7:].strip().encode(), expected.encode())


def _forbidden_page(request: Request, signed: SignedIn, rule: Rule) -> Response:
    target = quote(request.url.path, safe="/")
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>无权访问 · Forbidden</title>'
        '<link rel="stylesheet" href="/ui/style.css"></head><body><main>'
        f"<h1>无权访问 · Forbidden</h1><p>此页面需要角色 {html.escape(' / '.join(rule.roles))}，"
        f"当前账号 {html.escape(signed.principal.username)} 没有。</p>"
        f"<p>This page needs the role {html.escape(' or '.join(rule.roles))}; "
        f"{html.escape(signed.principal.username)} has none of them.</p>"
        f'<p><a href="/login?next={target}">换一个账号登录 · Sign in as someone else</a></p>'
        "</main></body></html>"
    )
    return HTMLResponse(body, status_code=403)


def _check_staff(request: Request, rule: Rule) -> Response | None:
    if rule.scrape_token and request.method in ("GET", "HEAD") and _scrape_token_ok(request):
        return None
    storage = _storage(request)
    if storage is None:
        return error_response(503, "not_ready", "the server is still starting; retry when GET /readyz answers 200")
    signed = resolve_session(storage, request.app.state.settings.auth, request.cookies.get(SESSION_COOKIE))
    request.state.staff = signed
    if signed is None:
        if rule.page and request.method in ("GET", "HEAD"):
            next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(next_path, safe='')}", status_code=303)
        return error_response(
            401,
            "unauthorized",
            "sign in first: POST /api/v1/auth/login with your username and password (pages: /login)",
        )
    principal = signed.principal
    if rule.roles and not any(principal.acts_as(r) for r in rule.roles):
        if rule.page:
            return _forbidden_page(request, signed, rule)
        return error_response(
            403, "forbidden", f"this needs the role {' or '.join(rule.roles)}; {principal.username} has none of them"
        )
    if request.method in STATE_CHANGING:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not secrets.compare_digest(sent.encode(), signed.session.csrf_token.encode()):
            return error_response(
                403,
                "csrf_failed",
                f"send the {CSRF_HEADER} header with this session's csrf_token (from sign-in or GET /api/v1/auth/me)",
            )
    return None


async def enforce(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """The one access check of the app (an HTTP middleware; see the module docstring)."""
    routes = getattr(request.app.state, "access_routes", None)
    if routes is None:
        routes = request.app.state.access_routes = app_routes(request.app)
    root = request.scope.get("root_path", "")
    path = request.scope["path"]
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    found = match(routes, request.method, path)
    if found is None:
        return await call_next(request)  # no route: FastAPI answers 404 or 405, no handler runs
    route, params = found
    rule = rule_for(request.method, route.path)
    if rule is None:
        log.error(
            "no access rule for %s %s: refused; add its row to assistant/api/access.py", request.method, route.path
        )
        return error_response(403, "forbidden", "this route has no access rule yet; it stays closed until it gets one")
    denied: Response | None = None
    if rule.audience == "citizen":
        denied = await run_in_threadpool(_check_citizen, request, rule, params)
    elif rule.audience == "staff":
        denied = await run_in_threadpool(_check_staff, request, rule)
    if denied is not None:
        return denied
    request.state.access_path = route.path
    return await call_next(request)


def checked(request: Request) -> None:
    """App-wide dependency: the access check saw this very route (else the request is refused).

    Belt and braces: should :func:`enforce` ever match a request to another
    route than FastAPI does, the handler must not run unguarded.
    """
    route = request.scope.get("route")
    seen = getattr(request.state, "access_path", None)
    if seen is None or (route is not None and getattr(route, "path", seen) != seen):
        log.error("route %s ran without its access check (checked %s)", getattr(route, "path", "?"), seen)
        raise Forbidden("this request was not access-checked; it is refused (a server bug, logged)")
