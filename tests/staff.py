"""Signing in as staff and speaking as a citizen, for tests (the interface of INTERFACE-auth.md).

- ``staff_client(app)``: a TestClient on ``https://testserver`` (the session
  cookie is Secure, so it only travels over https).
- ``sign_in(client, role, *, username=None) -> Principal``: makes sure an
  account holding ``role`` exists in the app's storage (username defaults to
  the role's name), signs in through ``POST /api/v1/auth/login`` and sets the
  client's ``X-CSRF-Token`` header.  Signing in again on the same client
  switches who it acts as.
- ``create_account(settings_or_data_dir, username, role, password)``: for a
  live server a test starts (SQLite in that data directory, or the database
  the Settings name); the same code as ``xiaoshen accounts create``.
- ``sign_in_page(page, base_url, username, password)``: fills ``/login`` in a
  Playwright page and waits until it has left it.
- ``citizen_headers(conversation)``: the ``X-Conversation-Token`` header of a
  conversation (the JSON that ``POST /api/v1/conversations`` returned).
- ``new_conversation(client, **body) -> (id, headers)``: opens a conversation
  and returns its id and citizen headers.
- ``keep_conversation_tokens(client)``: the client then behaves as the web
  chat: it keeps the token of every conversation it opens and sends it on
  every later call about that conversation (for tests whose subject is not
  access control; tests/test_access_matrix.py sends tokens by hand).
- ``act_as(client, username, role="agent")``: sign in as ``username`` unless
  the client is signed in as that account already (tests that switch agents).

Accounts ``sign_in`` creates use ``PASSWORD``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.api.auth import CONVERSATION_TOKEN_HEADER, CSRF_HEADER, Principal
from assistant.core.settings import PathsSettings, Settings, load_settings

#: the password of every account ``sign_in`` creates.
PASSWORD = "correct horse battery staple"


@cache
def _password_hash(password: str) -> str:
    # argon2 is slow on purpose; one hash per test session is enough for the fixture accounts
    from assistant.api.accounts import hash_password

    return hash_password(password)


def staff_client(app: FastAPI, **kwargs: Any) -> TestClient:
    """A TestClient over https (Secure cookies), server errors answered as 500s, not raised."""
    kwargs.setdefault("raise_server_exceptions", False)
    return TestClient(app, base_url="https://testserver", **kwargs)


def _storage(client: TestClient):  # type: ignore[no-untyped-def]
    storage = getattr(client.app.state, "storage", None)  # type: ignore[attr-defined]
    if storage is None:
        raise RuntimeError("the app's storage is not open: use the client inside `with staff_client(app) as client:`")
    return storage


def ensure_account(client: TestClient, role: str, username: str, password: str = PASSWORD) -> None:
    """An enabled account ``username`` holding ``role`` in the app's storage (created or given the role)."""
    storage = _storage(client)
    account = storage.accounts.find(username)
    if account is None:
        hashed = _password_hash(password)
        storage.accounts.create(username, password_hash=hashed, roles=[role])
        return
    if role not in account.roles:
        storage.accounts.set_roles(username, [*account.roles, role])
    if account.disabled:
        storage.accounts.set_disabled(username, False)


def sign_in(client: TestClient, role: str, *, username: str | None = None) -> Principal:
    """Sign ``client`` in as an account holding ``role`` (see the module docstring)."""
    name = username or role
    ensure_account(client, role, name)
    r = client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, f"sign-in as {name} failed: {r.status_code} {r.text}"
    body = r.json()
    client.headers[CSRF_HEADER] = body["csrf_token"]
    client.signed_in_as = body["username"]  # type: ignore[attr-defined]
    return Principal(body["username"], frozenset(body["roles"]))


def act_as(client: TestClient, username: str, role: str = "agent") -> None:
    """Sign in as ``username`` (holding ``role``) unless the client already acts as that account."""
    if getattr(client, "signed_in_as", None) != username:
        sign_in(client, role, username=username)


def sign_out(client: TestClient) -> None:
    """Sign ``client`` out and forget its CSRF header."""
    client.post("/api/v1/auth/logout")
    client.headers.pop(CSRF_HEADER, None)
    client.cookies.clear()
    client.signed_in_as = None  # type: ignore[attr-defined]


def create_account(settings_or_data_dir: Settings | Path | str, username: str, role: str, password: str) -> None:
    """Create an account in the database of ``settings_or_data_dir`` (a live server's)."""
    from assistant.api.accounts import create_account as create
    from assistant.wiring import open_configured_storage

    settings = settings_or_data_dir
    if not isinstance(settings, Settings):
        settings = load_settings(paths=PathsSettings(data_dir=Path(settings)))
    storage = open_configured_storage(settings)
    try:
        create(storage, settings.auth, username, [role], password, actor="tests")
    finally:
        storage.dispose()


def sign_in_page(page: Any, base_url: str, username: str, password: str) -> None:
    """Sign in through the ``/login`` page of a Playwright ``page`` (stays where ``next`` leads)."""
    if "/login" not in page.url:
        page.goto(base_url.rstrip("/") + "/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#submit").click()
    page.wait_for_url(lambda url: "/login" not in url)


def citizen_headers(conversation: dict[str, Any]) -> dict[str, str]:
    """The header that opens ``conversation`` (the JSON of ``POST /api/v1/conversations``)."""
    return {CONVERSATION_TOKEN_HEADER: conversation["token"]}


def new_conversation(client: TestClient, **body: Any) -> tuple[str, dict[str, str]]:
    """Open a conversation; returns its id and the citizen headers for it."""
    r = client.post("/api/v1/conversations", json=body)
    assert r.status_code == 201, r.text
    conversation = r.json()
    return conversation["id"], citizen_headers(conversation)


_CONVERSATION_PATH = re.compile(r"^/api/v1/conversations/([^/]+)")


def keep_conversation_tokens(client: TestClient) -> TestClient:
    """Make ``client`` keep and send its conversations' tokens, as the web chat does (see the module docstring)."""
    tokens: dict[str, str] = {}

    def send(request: Any) -> None:
        found = _CONVERSATION_PATH.match(request.url.path)
        if found and found.group(1) in tokens and CONVERSATION_TOKEN_HEADER not in request.headers:
            request.headers[CONVERSATION_TOKEN_HEADER] = tokens[found.group(1)]

    def keep(response: Any) -> None:
        request = response.request
        if request.method == "POST" and request.url.path == "/api/v1/conversations" and response.status_code == 201:
            response.read()
            body = response.json()
            tokens[body["id"]] = body["token"]

    client.event_hooks["request"].append(send)
    client.event_hooks["response"].append(keep)
    client.conversation_tokens = tokens  # type: ignore[attr-defined]
    return client
