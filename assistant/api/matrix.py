"""The endpoint x caller matrix: every route of the app called by seven kinds of caller,
each outcome compared with what the route table (``assistant.api.access``) says.

``xiaoshen security suite`` runs it on a fresh app; tests/test_access_matrix.py
holds the same rules with the sample values and bodies pinned by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

def access_matrix(app: Any, make_client: Callable[[Any], Any], sign_in: Callable[[Any, str], None]) -> tuple[int, list[str]]:
    """Every route of ``app`` called by seven kinds of caller; (calls, the ones whose outcome
    differs from the route table).  ``make_client(app)`` gives an https test client,
    ``sign_in(client, role)`` signs it in as a new account holding ``role``."""
    from assistant.api.access import app_routes, rule_for
    from assistant.api.auth import CONVERSATION_TOKEN_HEADER, ROLES, STATE_CHANGING

    callers = ("anonymous", "citizen-own", "citizen-other", *ROLES)
    with make_client(app) as setup:
        own = setup.post("/api/v1/conversations", json={}).json()
        other = setup.post("/api/v1/conversations", json={}).json()
        headers = {CONVERSATION_TOKEN_HEADER: own["token"]}
        setup.post(f"/api/v1/conversations/{own['id']}/messages", json={"text": "护照怎么办"}, headers=headers)
        ticket = setup.post(f"/api/v1/conversations/{own['id']}/handoff", json={}, headers=headers).json()["ticket"]["id"]
        clients = {}
        for caller in callers:
            client = make_client(app)
            client.__enter__()
            if caller == "citizen-own":
                client.headers[CONVERSATION_TOKEN_HEADER] = own["token"]
            elif caller == "citizen-other":
                client.headers[CONVERSATION_TOKEN_HEADER] = other["token"]
            elif caller in ROLES:
                sign_in(client, caller)
            clients[caller] = client
        fills = {
            "conversation_id": own["id"], "ticket_id": str(ticket), "message_id": "1", "name": "chat.js",
            "slice_name": "items", "username": "nobody",
            # the workbench's: an item that does not exist, so no caller edits or publishes a real file
            "item_id": "no-such-item", "feedback_id": "999999", "run_id": "no-such-run",
        }
        calls = sorted(
            ((m, r.path) for r in app_routes(app) for m in sorted(r.methods or {"GET"}) if m != "HEAD"),
            key=lambda c: c[1] == "/api/v1/auth/logout",  # signing out last
        )
        wrong: list[str] = []
        seen = 0
        for method, path in calls:
            rule = rule_for(method, path)
            url = path
            for name, value in fills.items():
                url = url.replace("{" + name + "}", value)
            if "{" in url:
                wrong.append(f"{method} {path}: no sample value for a path parameter")
                continue
            body = {} if method in STATE_CHANGING else None
            params = {"timeout": "0.5"} if path.endswith("/events") else {}
            for caller in callers:
                response = clients[caller].request(method, url, json=body, params=params)
                seen += 1
                got = outcome(response)
                want = "403" if rule is None else expected_outcome(rule, caller)
                if got != want:
                    wrong.append(f"{caller} {method} {path}: got {got} ({response.status_code}), the table says {want}")
        for client in clients.values():
            client.__exit__(None, None, None)
    return seen, wrong


def expected_outcome(rule: Any, caller: str) -> str:
    """What the route table's ``rule`` says ``caller`` gets: allowed, 401, 403 or login.

    ``caller`` is anonymous, citizen-own, citizen-other or a staff role (an account
    holding just that role)."""
    from assistant.api.auth import ROLES, Principal

    if rule.audience == "public":
        return "allowed"
    if rule.audience == "citizen":
        return {"citizen-own": "allowed", "citizen-other": "403"}.get(caller, "401")
    if caller not in ROLES:
        return "login" if rule.page else "401"
    principal = Principal(caller, frozenset({caller}))
    if not rule.roles or any(principal.acts_as(r) for r in rule.roles):
        return "allowed"
    return "403"


def outcome(response: Any) -> str:
    """allowed (a handler answered), 401, 403, csrf, or login (a page's redirect)."""
    if response.status_code in (302, 303, 307) and response.headers.get("location", "").startswith("/login?next="):
        return "login"
    code = ""
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        code = (body.get("error") or {}).get("code", "") if isinstance(body, dict) else ""
    if response.status_code == 401 and code == "unauthorized":
        return "401"
    if response.status_code == 403 and code in ("forbidden", ""):
        return "403"
    if response.status_code == 403 and code == "csrf_failed":
        return "csrf"
    return "allowed"
