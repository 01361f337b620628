"""The OpenAPI schema says what the route table enforces, and what every error looks like.

FastAPI documents each route's body and answer; it cannot know the one access
check (``assistant.api.access``) or the one error shape (``assistant.api.errors``).
:func:`install_openapi` completes the generated schema, once, from the same
table the check reads, so the two cannot drift apart:

- security schemes: ``conversationToken`` (header ``X-Conversation-Token``;
  ``conversationTokenQuery``, ``?token=``, on the live event stream),
  ``session`` (cookie ``xs_session``) and ``csrfToken`` (header ``X-CSRF-Token``,
  required with the session on POST, PUT, PATCH and DELETE); each operation
  names the ones its row asks for (none for a public route);
- every error an operation can answer, each with the body
  ``{"error": {"code", "message"}}``: 401/403/404 of the access check, 400
  (not JSON) and 413 (body over ``server.max_body_bytes``) where a body is
  taken, 404 where a path names something, 409 where state changes, 422 for
  a request that does not fit (FastAPI's own 422 body is replaced: ours is
  the one sent), 429 with ``Retry-After`` where limits count, 503 while the
  server starts.

``tests/test_api_schemathesis.py`` checks the API against this schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from assistant.api.access import rule_for
from assistant.api.auth import CONVERSATION_TOKEN_HEADER, CSRF_HEADER, SESSION_COOKIE, STATE_CHANGING

SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "conversationToken": {
        "type": "apiKey",
        "in": "header",
        "name": CONVERSATION_TOKEN_HEADER,
        "description": "the token POST /api/v1/conversations returned with the conversation; opens it and no other",
    },
    "conversationTokenQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "the same token, for the live event stream (EventSource sends no headers)",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "the staff session set by POST /api/v1/auth/login (HttpOnly, Secure, SameSite=Strict)",
    },
    "csrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": CSRF_HEADER,
        "description": "the session's csrf_token (sign-in answer or GET /api/v1/auth/me), on every state-changing staff call",
    },
}

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable machine-readable code (rate_limited, not_found…)"},
                "message": {"type": "string", "description": "what went wrong and how to fix it"},
            },
        }
    },
}

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_DESCRIPTIONS = {
    "400": "the body is not JSON (malformed_json)",
    "401": "no conversation token, or not signed in (unauthorized); at sign-in: a wrong name or password (login_failed)",
    "403": "another conversation's token, a role the account lacks, or no CSRF token (forbidden, csrf_failed)",
    "404": "no such conversation, ticket, message or account (not_found)",
    "409": "the state changed or the action does not fit it (conflict, stale_state, idempotency_in_progress)",
    "413": "the body or the message is too long (payload_too_large, message_too_long)",
    "422": "the request does not fit the schema or the rules (invalid_request, invalid_input…)",
    "429": "too many requests; retry after Retry-After seconds (rate_limited)",
    "503": "the server is still starting (not_ready)",
}
#: errors particular to one operation: (method, path) -> statuses.
_PARTICULAR: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/auth/login"): {"401"},  # the name or the password is wrong (login_failed)
    ("GET", "/api/v1/helpdesk/events"): {"404"},  # ?ticket= names no ticket
    ("POST", "/api/v1/evaluation/runs"): {"404"},  # no such benchmark or corpus
    ("POST", "/api/v1/evaluation/compare"): {"404"},  # no such run, or no report yet
}
#: operations whose calls the abuse limits count (and may answer 429).
_LIMITED = ("/api/v1/conversations", "/messages", "/messages/stream", "/api/v1/auth/login")


def event_stream(description: str, events: dict[str, dict]) -> dict[int | str, dict]:
    """How the OpenAPI schema describes a server-sent event stream: each event (OpenAPI < 3.2:
    the ``schema`` of ``text/event-stream`` is one event) by its name and the JSON its data carries."""
    each = {
        "type": "object",
        "properties": {
            "event": {"type": "string", "enum": list(events)},
            "data": {"type": "string", "contentMediaType": "application/json"},
            "id": {"type": "string"},
            "retry": {"type": "integer"},
        },
        "allOf": [
            {
                "if": {"properties": {"event": {"const": name}}, "required": ["event"]},
                "then": {"properties": {"data": {"contentSchema": data}}},
            }
            for name, data in events.items()
        ],
    }
    return {200: {"description": description, "content": {"text/event-stream": {"schema": each}}}}


def schema_ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name`` (a response model of some route)."""
    return {"$ref": f"#/components/schemas/{name}"}


def _error(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _DESCRIPTIONS[status], "content": {"application/json": {"schema": _ERROR_REF}}}
    if status == "429":
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
    return response


def complete_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (FastAPI's) with the security schemes and the error responses (see the module docstring)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, which we never send
        schemas.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            rule = rule_for(method.upper(), path)
            statuses = {"422"}
            if rule is not None and rule.audience == "citizen":
                alternatives = [{"conversationToken": []}]
                if rule.token_in_query:
                    alternatives.append({"conversationTokenQuery": []})
                operation["security"] = alternatives
                statuses |= {"401", "403", "404", "503"}
            elif rule is not None and rule.audience == "staff":
                needed = {"session": []}
                if method.upper() in STATE_CHANGING:
                    needed["csrfToken"] = []
                operation["security"] = [needed]
                statuses |= {"401", "403", "503"}
            if "requestBody" in operation or method.upper() in STATE_CHANGING:
                statuses |= {"400", "413"}
            if "{" in path:
                statuses.add("404")
            if method.upper() in STATE_CHANGING and rule is not None and rule.audience != "public":
                statuses.add("409")
            if any(path.endswith(end) for end in _LIMITED) and method.upper() == "POST":
                statuses |= {"413", "429"}
            statuses |= _PARTICULAR.get((method.upper(), path), set())
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses[status] = _error(status)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed schema (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_schema(
                get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
