"""Every route × every kind of caller: the route table (assistant/api/access.py) holds, on memory and SQLite.

Callers: anonymous, the citizen of the conversation (its own token), another
citizen (another conversation's token), and one signed-in account per staff
role (agent, kb_operator, supervisor, admin; each sends its CSRF token, so
only its role decides).  Every route of the app is called by each; what the
table's rule says must happen does: allowed (the handler answers, whatever
its answer), 401, 403, or a redirect to /login for pages.

Beside the table-driven matrix, the rules that matter most are pinned here by
hand, so a wrong row in the table cannot pass by agreeing with itself.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.api.access import ROUTES, Rule, app_routes, rule_for
from assistant.api.app import create_app
from assistant.api.auth import CONVERSATION_TOKEN_HEADER, ROLES, STATE_CHANGING
from assistant.api.matrix import expected_outcome, outcome
from assistant.core.settings import DatabaseSettings, LimitsSettings, PathsSettings, load_settings
from assistant.db import MEMORY_URL
from assistant.wiring import build_services, build_stages
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import sign_in, staff_client

CALLERS = ("anonymous", "citizen-own", "citizen-other", *ROLES)


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):
    settings = load_settings(paths=PathsSettings(data_dir=tmp_path_factory.mktemp("stages")))
    return build_stages(settings, items=tiny_items(), embedder=KeywordEmbedder())


def make_app(stages, data_dir: Path, backend: str) -> FastAPI:
    settings = load_settings(
        paths=PathsSettings(data_dir=data_dir),
        database=DatabaseSettings(url=MEMORY_URL if backend == "memory" else ""),
        limits=LimitsSettings(enabled=False),  # hundreds of calls from one address: limits are not the subject
    )
    return create_app(settings, services=build_services(settings, stages=stages))


# --------------------------------------------------------------------------- the table itself


def test_every_route_of_the_app_has_a_row(stages, data_dir: Path) -> None:
    app = make_app(stages, data_dir, "memory")
    missing = [
        f"{method} {route.path}"
        for route in app_routes(app)
        for method in sorted(route.methods or {"GET", "POST", "PUT", "PATCH", "DELETE"})
        if method != "HEAD" and rule_for(method, route.path) is None
    ]
    assert missing == [], f"routes without a row in assistant/api/access.py ROUTES: {missing}"
    # the walk sees every route FastAPI documents (it misses none hidden in an included router)
    walked = {r.path for r in app_routes(app)}
    assert set(app.openapi()["paths"]) <= walked
    assert {"/console", "/dashboard", "/login", "/metrics", "/healthz", "/ui/{name}"} <= walked


def test_every_row_names_a_route_that_exists(stages, data_dir: Path) -> None:
    """A row for a route that was renamed or removed is a stale rule: it must go too."""
    app = make_app(stages, data_dir, "memory")
    templates = {r.path for r in app_routes(app)}
    stale = [
        path
        for _, path, _ in ROUTES
        if not (any(t.startswith(path[:-1]) for t in templates) if path.endswith("/*") else path in templates)
    ]
    # the API docs exist only in development mode; this app is one
    assert stale == []


def test_rule_lookup_prefers_the_most_specific_row() -> None:
    table = (
        ("*", "/a/*", Rule("staff", ("agent",))),
        ("GET", "/a/*", Rule("staff", ("supervisor",))),
        ("*", "/a/b/*", Rule("staff", ("admin",))),
        ("POST", "/a/b/c", Rule("public")),
    )
    assert rule_for("POST", "/a/x", table).roles == ("agent",)
    assert rule_for("GET", "/a/x", table).roles == ("supervisor",)
    assert rule_for("HEAD", "/a/x", table).roles == ("supervisor",)  # HEAD reads as GET
    assert rule_for("GET", "/a/b/c", table).roles == ("admin",)  # the longer prefix
    assert rule_for("POST", "/a/b/c", table).audience == "public"  # the exact template
    assert rule_for("GET", "/b", table) is None


def test_rules_refuse_unknown_roles() -> None:
    with pytest.raises(ValueError):
        Rule("staff", ("root",))
    with pytest.raises(ValueError):
        Rule("citizen", ("agent",))


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/", "public"),
        ("POST", "/api/v1/conversations", "public"),
        ("GET", "/api/v1/conversations/{conversation_id}", "citizen"),
        ("POST", "/api/v1/conversations/{conversation_id}/messages", "citizen"),
        ("GET", "/api/v1/conversations/{conversation_id}/events", "citizen"),
        ("GET", "/login", "public"),
        ("POST", "/api/v1/auth/login", "public"),
        ("GET", "/api/v1/auth/me", "staff: any signed-in account"),
        ("GET", "/console", "staff: agent"),
        ("GET", "/api/v1/helpdesk/queue", "staff: agent"),
        ("POST", "/api/v1/helpdesk/tickets/{ticket_id}/claim", "staff: agent"),
        ("GET", "/dashboard", "staff: supervisor"),
        ("GET", "/api/v1/metrics", "staff: supervisor"),
        ("GET", "/api/v1/metrics/{slice_name}", "staff: supervisor"),
        ("GET", "/metrics", "staff: supervisor"),
        ("GET", "/api/v1/audit", "staff: supervisor"),
        ("POST", "/api/v1/helpdesk/tickets/{ticket_id}/messages/{message_id}/reveal", "staff: agent or supervisor"),
        ("GET", "/api/v1/accounts", "staff: admin"),
        ("POST", "/api/v1/accounts", "staff: admin"),
        ("PUT", "/api/v1/accounts/{username}/roles", "staff: admin"),
        ("GET", "/workbench", "staff: kb_operator"),
        ("POST", "/api/v1/workbench/items/{item_id}/publish", "staff: kb_operator"),
        ("GET", "/api/v1/workbench/insights", "staff: supervisor"),
        ("POST", "/api/v1/evaluation/runs", "staff: kb_operator"),
        ("GET", "/healthz", "public"),
        ("GET", "/ui/{name}", "public"),
    ],
)
def test_the_rules_that_matter_most_pinned_by_hand(method: str, path: str, expected: str) -> None:
    rule = rule_for(method, path)
    assert rule is not None and rule.describe() == expected


# --------------------------------------------------------------------------- the matrix


def _params(path: str, own: str, ticket: int) -> str:
    fills = {"conversation_id": own, "ticket_id": str(ticket), "name": "chat.js", "slice_name": "items", "username": "target",
             # the workbench's: an item that does not exist, so no caller edits or publishes a real file
             "item_id": "no-such-item", "feedback_id": "999999", "run_id": "no-such-run",
             "message_id": "1"}
    out = path
    for name, value in fills.items():
        out = out.replace("{" + name + "}", value)
    assert "{" not in out, f"no sample value for a parameter of {path}; add it to _params"
    return out


_accounts = itertools.count(1)


def _body(method: str, path: str) -> dict | None:
    if method not in STATE_CHANGING:
        return None
    samples: dict[str, dict] = {
        "/messages": {"text": "护照怎么办"},
        "/messages/stream": {"text": "护照怎么办"},
        "/feedback": {"rating": 5},
        "/reply": {"text": "您好"},
        "/transfer": {"department": "上海市公安局"},
        "/resolve": {"resolution": "answered"},
        "/api/v1/auth/login": {"username": "nobody", "password": "not the password"},
        "/roles": {"roles": ["agent"]},
        "/password": {"password": "another long enough password"},
        "/reveal": {"reason": "call the citizen back"},
    }
    if path == "/api/v1/accounts":
        return {"username": f"new{next(_accounts)}", "roles": ["agent"], "password": "a long enough password"}
    for ending, body in samples.items():
        if path.endswith(ending):
            return body
    return {}


def _query(path: str) -> dict[str, str]:
    return {"timeout": "0.5"} if path.endswith("/events") else {}


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_every_route_for_every_caller(stages, data_dir: Path, backend: str) -> None:
    app = make_app(stages, data_dir, backend)
    with staff_client(app, follow_redirects=False) as setup:
        own = setup.post("/api/v1/conversations", json={}).json()
        other = setup.post("/api/v1/conversations", json={}).json()
        headers = {CONVERSATION_TOKEN_HEADER: own["token"]}
        setup.post(f"/api/v1/conversations/{own['id']}/messages", json={"text": "护照怎么办"}, headers=headers)
        ticket = setup.post(f"/api/v1/conversations/{own['id']}/handoff", json={}, headers=headers).json()["ticket"]["id"]
        sign_in(setup, "admin", username="target")  # the account the /accounts/{username} routes act on
        sign_in(setup, "admin", username="admin.two")  # so that changing "target" never leaves no admin

        clients: dict[str, TestClient] = {}
        for caller in CALLERS:
            client = staff_client(app, follow_redirects=False)
            if caller == "citizen-own":
                client.headers[CONVERSATION_TOKEN_HEADER] = own["token"]
            elif caller == "citizen-other":
                client.headers[CONVERSATION_TOKEN_HEADER] = other["token"]
            elif caller in ROLES:
                sign_in(client, caller)
            clients[caller] = client

        calls = [
            (method, route.path)
            for route in app_routes(app)
            for method in sorted(route.methods or {"GET"})
            if method != "HEAD"
        ]
        # signing out ends the caller's session: do it last
        calls.sort(key=lambda c: c[1] == "/api/v1/auth/logout")
        wrong: list[str] = []
        seen = 0
        for method, path in calls:
            rule = rule_for(method, path)
            assert rule is not None, f"{method} {path} has no row"
            url = _params(path, own["id"], ticket)
            for caller in CALLERS:
                response = clients[caller].request(method, url, json=_body(method, path), params=_query(path))
                got, want = outcome(response), expected_outcome(rule, caller)
                seen += 1
                if got != want:
                    wrong.append(f"{caller:14} {method} {path}: got {got} ({response.status_code}), want {want}")
        assert wrong == [], "\n".join(wrong)
        assert seen == len(calls) * len(CALLERS) and len(calls) >= 40
