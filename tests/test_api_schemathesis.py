"""schemathesis against the app's own OpenAPI schema, in process: no 5xx, no schema violation.

Every operation of the schema (citizen, staff and public) is called with
schemathesis's generated requests, valid and invalid, through its ASGI
transport (the app and its lifespan in this process; no socket).  Calls carry
what the route table asks for: a citizen route the conversation's own token
and a real conversation id (unless the case deliberately breaks the path),
a staff route an admin's session cookie and CSRF token (an admin acts as every
role, so every handler runs), with the ticket and message of a real handoff.
Signing out gets a throw-away session of its own, so the admin stays signed in.

Bounded for CI: ``EXAMPLES`` examples per operation, derandomized (the same
requests every run), no deadline; about two minutes on two busy cores.

Checks: no server error; status code, content type, headers and body as the
schema documents; invalid requests rejected and valid ones accepted; and
``ignored_auth``: an operation whose schema demands a token, a session or the
CSRF token must refuse the same call without it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, given, settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.core.parameters import ParameterLocation  # noqa: E402
from schemathesis.generation.modes import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from assistant.api.access import rule_for  # noqa: E402
from assistant.api.app import create_app  # noqa: E402
from assistant.api.auth import CONVERSATION_TOKEN_HEADER, CSRF_HEADER, SESSION_COOKIE, new_session  # noqa: E402
from assistant.core.settings import (  # noqa: E402
    DatabaseSettings,
    LimitsSettings,
    PathsSettings,
    PrivacySettings,
    load_settings,
)
from assistant.db import MEMORY_URL  # noqa: E402
from assistant.wiring import build_services, build_stages  # noqa: E402
from tests.fakes import KeywordEmbedder, tiny_items  # noqa: E402
from tests.staff import citizen_headers, sign_in, staff_client  # noqa: E402

#: generated requests per operation (hypothesis examples; the explicit ones come on top).
EXAMPLES = 25
#: the staff account the calls act as: a name no generated path is likely to hit.
ADMIN = "schemathesis.admin"
#: the live event stream ends after this many seconds in these calls (the schema allows up to an hour).
STREAM_S = 0.5


#: rules about valid-looking requests that JSON Schema cannot state, per operation: the
#: refusal (422 invalid_input) must name that rule, and nothing else may be refused.
_MESSAGE = {
    # clean_message drops control, format and unassigned characters and trims spaces
    "invalid_input": r"^message is empty",
    # an Idempotency-Key generated twice for two texts (the first stored turn keeps it)
    "idempotency_key_reused": r"was used for another message",
}
_SEMANTIC: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): _MESSAGE,
    ("POST", "/api/v1/conversations/{conversation_id}/messages/stream"): _MESSAGE,
    # message_id must name an answer of this conversation (a user message is refused)
    ("POST", "/api/v1/conversations/{conversation_id}/feedback"): {"invalid_input": r"feedback is for answers$"},
    # the workbench: an FAQ fix needs its answer; a preview needs a question that is not blank
    ("POST", "/api/v1/workbench/items/{item_id}/fix"): {"invalid_input": r"^an FAQ needs the question and the answer"},
    ("POST", "/api/v1/workbench/items/{item_id}/preview"): {"invalid_input": r"^choose at least one question"},
    # an uploaded benchmark must hold cases in the benchmark format
    ("POST", "/api/v1/evaluation/benchmarks"): {"invalid_input": r"holds no usable case|holds no corpus entry"},
    # a field both answered and declined
    ("POST", "/api/v1/checkup"): {"invalid_input": r"is also answered; send one or the other$"},
    # the report window: since before until, at most 366 days
    **{
        ("GET", p): {"invalid_input": r"is not before until|is longer than 366 days"}
        for p in ("/api/v1/metrics", "/api/v1/metrics/summary", "/api/v1/metrics/{slice_name}")
    },
}


#: path parameters the calls fill with a real conversation, ticket and message (see _aim); item
#: ids stay generated, so no call edits or publishes a knowledge-base file.
_REAL = {"conversation_id", "ticket_id", "message_id"}


@dataclass
class World:
    """What the calls act on: a conversation with its token, a handed-off ticket, a masked message, staff."""

    app: object
    conversation: str
    token: str
    ticket: int
    message: int
    session: str
    csrf: str
    storage: object


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    data = tmp_path_factory.mktemp("schemathesis")
    settings_ = load_settings(
        paths=PathsSettings(data_dir=data),
        database=DatabaseSettings(url=MEMORY_URL),
        privacy=PrivacySettings(key=Fernet.generate_key().decode()),
        limits=LimitsSettings(enabled=False),  # thousands of calls from one client: limits are not the subject
    )
    stages = build_stages(settings_, items=tiny_items(), embedder=KeywordEmbedder())
    services = build_services(settings_, stages=stages)
    app = create_app(settings_, services=services)
    with staff_client(app) as client:
        conversation = client.post("/api/v1/conversations", json={}).json()
        citizen = citizen_headers(conversation)
        cid = conversation["id"]
        turn = client.post(
            f"/api/v1/conversations/{cid}/messages", json={"text": "我的手机13812345678，居住证怎么办理"}, headers=citizen
        ).json()
        ticket = client.post(f"/api/v1/conversations/{cid}/handoff", json={}, headers=citizen).json()["ticket"]["id"]
        sign_in(client, "admin", username=ADMIN)
        session, csrf = client.cookies.get(SESSION_COOKIE), client.headers[CSRF_HEADER]
        assert client.post(f"/api/v1/helpdesk/tickets/{ticket}/claim", json={}).status_code == 200
    return World(app, cid, conversation["token"], ticket, turn["user_message_id"], session, csrf, services.storage)


@pytest.fixture(scope="module")
def api_schema(world: World):
    return schemathesis.openapi.from_asgi("/openapi.json", world.app)


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the schema documents (read without starting the app)."""
    app = create_app(load_settings(database=DatabaseSettings(url=MEMORY_URL)))
    return [(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops]


def _number(value: object) -> float:
    """``value`` as the server would read a query number (NaN when it would not)."""
    try:
        return float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else float("nan")
    except ValueError:
        return float("nan")


def _aim(case, world: World) -> None:
    """Point the case at the real conversation, ticket and message and give it real credentials,
    wherever schemathesis generated a valid value (a part it made invalid on purpose stays invalid)."""
    method, path = case.operation.method.upper(), case.operation.path
    rule = rule_for(method, path)
    assert rule is not None, f"{method} {path} has no row in the route table"

    def valid(location: ParameterLocation) -> bool:
        return case.meta is None or not case.meta.is_negative_at(location)

    if case.path_parameters and valid(ParameterLocation.PATH):
        real = {"conversation_id": world.conversation, "ticket_id": world.ticket, "message_id": world.message}
        for name in list(case.path_parameters):
            if name in real:
                case.path_parameters[name] = real[name]
    if path.endswith("/events") and not isinstance(case.query, MutableMapping):
        case.query = {}
    query = case.query if isinstance(case.query, MutableMapping) else {}
    if path.endswith("/events") and ("timeout" not in query or 0.5 <= _number(query["timeout"]) <= 3600):
        query["timeout"] = STREAM_S  # a valid value (the default is 300 s): the stream must end within the test
    session, csrf = world.session, world.csrf
    if path == "/api/v1/auth/logout":  # a session of its own to end, so the admin stays signed in
        session, started = new_session(world.storage, ADMIN)
        csrf = started.csrf_token
    headers = case.headers if isinstance(case.headers, MutableMapping) else {}
    cookies = case.cookies if isinstance(case.cookies, MutableMapping) else {}
    if valid(ParameterLocation.HEADER):
        for name, value in ((CONVERSATION_TOKEN_HEADER, world.token), (CSRF_HEADER, csrf)):
            if name in headers:
                headers[name] = value
    if valid(ParameterLocation.COOKIE) and SESSION_COOKIE in cookies:
        cookies[SESSION_COOKIE] = session
    if valid(ParameterLocation.QUERY) and isinstance(query.get("token"), str):
        query["token"] = world.token
    if valid(ParameterLocation.QUERY) and "ticket" in query:
        query["ticket"] = world.ticket  # the staff stream follows a real ticket
    case._has_explicit_auth = True  # the credentials are ours, not generated: ignored_auth probes without them
    if case.meta is not None and case.meta.generation.mode.is_positive and rule.audience != "public":
        # a valid call carries its credentials (schemathesis may leave out a scheme among alternatives)
        if rule.audience == "citizen" and "token" not in query:
            case.headers = {**headers, CONVERSATION_TOKEN_HEADER: world.token}
        if rule.audience == "staff":
            case.cookies = {**cookies, SESSION_COOKIE: session}
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                case.headers = {**headers, CSRF_HEADER: csrf}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), _operations())
def test_the_api_keeps_its_schema(api_schema, world: World, method: str, path: str, mode: GenerationMode) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def calls(case) -> None:
        _aim(case, world)
        response = case.call()
        statuses.append(response.status_code)
        rule = _SEMANTIC.get((method, path))
        if rule is None or mode is GenerationMode.NEGATIVE:
            case.validate_response(response)
            return
        # a rule the schema cannot state: every other check, and a refusal must be that rule's 422
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        if response.status_code == 422:
            error = response.json()["error"]
            assert error["code"] in rule and re.search(rule[error["code"]], error["message"]), error

    statuses: list[int] = []
    calls()
    print(f"\n{method} {path} {mode}: {sorted(Counter(statuses).items())}")
    if mode is GenerationMode.POSITIVE and rule_for(method, path).audience != "public":
        # the credentials worked: the valid calls reached the handlers (else every check would pass on 401s)
        assert 401 not in statuses, statuses
        if method == "GET" and set(re.findall(r"\{(\w+)\}", path)) <= _REAL:
            assert any(200 <= s < 300 for s in statuses), statuses
