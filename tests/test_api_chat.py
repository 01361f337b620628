"""The HTTP API through TestClient, on the real stages with the tiny fakes.

Every error case checks the body shape and that the database holds nothing
partial afterwards (row counts before and after).  The client runs on SQLite
and on the in-memory store: the API accepts any backend of the storage Protocols.
"""

from __future__ import annotations

import json

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.core.settings import DatabaseSettings, PathsSettings, load_settings
from assistant.db import MEMORY_URL
from assistant.wiring import build_services, build_stages
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import citizen_headers, sign_in, staff_client
from tests.storage_backends import counts as storage_counts


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):
    """The dialogue stages over the 10-item fake knowledge base, built once per module."""
    data = tmp_path_factory.mktemp("stages")
    settings = load_settings(paths=PathsSettings(data_dir=data))
    return build_stages(settings, items=tiny_items(), embedder=KeywordEmbedder())


@pytest.fixture(params=["sqlite", "memory"])
def settings(request: pytest.FixtureRequest, data_dir: Path):
    database = DatabaseSettings(url=MEMORY_URL if request.param == "memory" else "")
    return load_settings(paths=PathsSettings(data_dir=data_dir), database=database)


@pytest.fixture
def client(settings, stages):
    services = build_services(settings, stages=stages)
    app = create_app(settings, services=services)
    # raise_server_exceptions=False: a 500 must come back as JSON, as a real client sees it.
    with staff_client(app, raise_server_exceptions=False) as c:
        c.assistant = services.assistant  # type: ignore[attr-defined]
        c.storage = services.storage  # type: ignore[attr-defined]
        yield c


def counts(client: TestClient) -> dict[str, int]:
    return storage_counts(client.storage)  # type: ignore[attr-defined]


def new_conversation(client: TestClient, **body: object) -> str:
    """Open a conversation; the client then acts as its citizen (sends its token on every call)."""
    r = client.post("/api/v1/conversations", json=body)
    assert r.status_code == 201, r.text
    client.headers.update(citizen_headers(r.json()))
    return r.json()["id"]


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text


def test_question_gets_grounded_answer_with_citations_and_timings(client: TestClient) -> None:
    cid = new_conversation(client)
    r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "居住证怎么办理"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "answer"
    assert body["item_ids"][0] == "residence-permit-apply"
    assert "居住证" in body["answer"]
    assert body["citations"] and body["citations"][0]["item_id"] == "residence-permit-apply"
    assert body["citations"][0]["updated"] == "2026-11-01"
    assert body["intent"].startswith("consult.")
    assert {"intent", "retrieval", "generation", "total"} <= set(body["timings_ms"])
    assert body["message_id"] > body["user_message_id"]

    conversation = client.get(f"/api/v1/conversations/{cid}").json()
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
    assert conversation["messages"][1]["citations"] == body["citations"]

    assert conversation["current_item"] == "residence-permit-apply"


def test_follow_up_uses_the_stored_state(client: TestClient) -> None:
    cid = new_conversation(client)
    client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照怎么办"})
    r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "要多少钱"})
    assert r.status_code == 200
    assert r.json()["citations"][0]["item_id"] == "passport-apply"


@pytest.mark.parametrize(
    ("make_request", "status", "code"),
    [
        (lambda c, cid: c.post(f"/api/v1/conversations/{cid}/messages", json={"text": ""}), 422, "invalid_input"),
        (lambda c, cid: c.post(f"/api/v1/conversations/{cid}/messages", json={"text": "   \n "}), 422, "invalid_input"),
        (lambda c, cid: c.post(f"/api/v1/conversations/{cid}/messages", json={"text": "办" * 10_000}), 413, "message_too_long"),
        (
            lambda c, cid: c.post(
                f"/api/v1/conversations/{cid}/messages",
                content='{"text": "居住证'.encode(),
                headers={"Content-Type": "application/json"},
            ),
            400,
            "malformed_json",
        ),
        (lambda c, cid: c.post(f"/api/v1/conversations/{cid}/messages", json={"txt": "hi"}), 422, "invalid_request"),
        (lambda c, cid: c.post("/api/v1/conversations/no-such-id/messages", json={"text": "居住证"}), 404, "not_found"),
        (lambda c, cid: c.get("/api/v1/conversations/no-such-id"), 404, "not_found"),
        (lambda c, cid: c.post("/api/v1/conversations/no-such-id/handoff", json={}), 404, "not_found"),
        (
            lambda c, cid: c.post("/api/v1/conversations/no-such-id/feedback", json={"helpful": True}),
            404,
            "not_found",
        ),
        (
            lambda c, cid: c.post(f"/api/v1/conversations/{cid}/feedback", json={"message_id": 999999, "helpful": True}),
            404,
            "not_found",
        ),
        (lambda c, cid: c.post(f"/api/v1/conversations/{cid}/feedback", json={"rating": 6}), 422, "invalid_request"),
        (lambda c, cid: c.post(f"/api/v1/conversations/{cid}/feedback", json={}), 422, "invalid_input"),
        (lambda c, cid: c.post("/api/v1/conversations", json={"lang": "fr"}), 422, "invalid_request"),
    ],
    ids=[
        "empty",
        "blank",
        "10000-chars",
        "malformed-json",
        "wrong-field",
        "unknown-conversation",
        "read-unknown",
        "handoff-unknown",
        "feedback-unknown-conversation",
        "feedback-unknown-message",
        "rating-out-of-range",
        "feedback-empty",
        "unsupported-language",
    ],
)
def test_bad_requests_get_json_4xx_and_write_nothing(client: TestClient, make_request, status: int, code: str) -> None:
    cid = new_conversation(client)
    client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "居住证怎么办理"})
    before = counts(client)
    assert_error(make_request(client, cid), status, code)
    assert counts(client) == before


def test_a_failure_inside_the_turn_leaves_nothing_half_written(client: TestClient, monkeypatch) -> None:
    cid = new_conversation(client)
    before = counts(client)

    def broken_turn(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(client.assistant.dialogue, "turn", broken_turn)  # type: ignore[attr-defined]
    r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "居住证怎么办理"})
    assert_error(r, 500, "internal_error")
    assert "secret internal detail" not in r.text
    assert counts(client) == before


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.delete("/api/v1/conversations"), 405, "method_not_allowed")


def test_handoff_opens_one_ticket_and_the_bot_stays_silent(client: TestClient) -> None:
    cid = new_conversation(client, elder_mode=True)
    client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "社保卡丢了怎么补"})
    r = client.post(f"/api/v1/conversations/{cid}/handoff", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "handoff" and body["handoff_reason"] == "customer_request"
    ticket = body["ticket"]
    assert ticket["status"] == "new" and ticket["priority"] == 1  # elder mode
    assert ticket["department"] == "上海市人力资源和社会保障局"
    assert body["queue"]["position"] == 1 and body["queue"]["ticket_id"] == ticket["id"]

    before = counts(client)
    silent = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照怎么办"}).json()
    assert silent["action"] == "handoff" and silent["citations"] == [] and silent["ticket"] is None
    assert silent["queue"]["position"] == 1
    after = counts(client)
    assert after["tickets"] == before["tickets"]  # no second ticket
    assert after["messages"] == before["messages"] + 2  # the citizen's words are kept for the agent

    again = client.post(f"/api/v1/conversations/{cid}/handoff", json={})
    assert again.status_code == 200 and again.json()["ticket"] is None
    assert client.get(f"/api/v1/conversations/{cid}/queue").json()["ticket_id"] == ticket["id"]


def test_feedback_and_rating_are_stored(client: TestClient) -> None:
    cid = new_conversation(client)
    answer = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照怎么办"}).json()
    r = client.post(
        f"/api/v1/conversations/{cid}/feedback", json={"message_id": answer["message_id"], "helpful": True}
    )
    assert r.status_code == 200 and r.json() == {"stored": True, "negative_count": 0, "ticket": None}
    r = client.post(f"/api/v1/conversations/{cid}/feedback", json={"rating": 4, "comment": "清楚"})
    assert r.status_code == 200
    # feedback on the citizen's own message is refused
    r = client.post(
        f"/api/v1/conversations/{cid}/feedback", json={"message_id": answer["user_message_id"], "helpful": False}
    )
    assert_error(r, 422, "invalid_input")
    assert counts(client)["feedback"] == 2


def test_two_thumbs_down_hand_the_conversation_to_a_person(client: TestClient) -> None:
    cid = new_conversation(client)
    first = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照怎么办"}).json()
    second = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "营业执照怎么办"}).json()
    r1 = client.post(f"/api/v1/conversations/{cid}/feedback", json={"message_id": first["message_id"], "helpful": False})
    assert r1.json()["ticket"] is None
    r2 = client.post(f"/api/v1/conversations/{cid}/feedback", json={"message_id": second["message_id"], "helpful": False})
    ticket = r2.json()["ticket"]
    assert ticket and ticket["reason"] == "negative_feedback"
    conversation = client.get(f"/api/v1/conversations/{cid}").json()
    assert conversation["handed_off"] and conversation["queue"]["ticket_id"] == ticket["id"]
    assert conversation["messages"][-1]["role"] == "system"


def test_health_readiness_pages_and_prometheus(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["items"] == 10
    page = client.get("/")
    assert page.status_code == 200 and "小申" in page.text and "/ui/chat.js" in page.text
    assert client.get("/ui/chat.js").status_code == 200
    assert_error(client.get("/ui/__init__.py"), 404, "not_found")
    cid = new_conversation(client)
    client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照怎么办"})
    sign_in(client, "supervisor")  # Prometheus's own page: supervisors (or the scrape token)
    text = client.get("/metrics").text
    assert "xiaoshen_http_requests_total" in text
    assert 'xiaoshen_turn_stage_seconds_count{stage="retrieval"} 1.0' in text
    assert "xiaoshen_conversations_24h 1.0" in text


def test_readyz_is_503_before_the_assistant_is_built(settings) -> None:
    app = create_app(settings)  # no lifespan run: nothing built yet
    c = TestClient(app, raise_server_exceptions=False)
    assert c.get("/healthz").status_code == 200
    assert_error(c.get("/readyz"), 503, "not_ready")
    assert_error(c.post("/api/v1/conversations", json={}), 503, "not_ready")


def test_english_conversation(client: TestClient) -> None:
    cid = new_conversation(client, lang="en")
    r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "How do I apply for a passport?"}).json()
    assert r["lang"] == "en"
    assert r["item_ids"][0] == "passport-apply"
    handoff = client.post(f"/api/v1/conversations/{cid}/handoff", json={}).json()
    assert "staff" in handoff["answer"].lower()


def test_typed_request_for_a_person_routes_by_the_conversation_not_by_noise(client: TestClient) -> None:
    bare = new_conversation(client)
    r = client.post(f"/api/v1/conversations/{bare}/messages", json={"text": "转人工"}).json()
    assert r["action"] == "handoff" and r["handoff_reason"] == "customer_request"
    assert r["ticket"]["department"] == "一网通办综合咨询" and r["ticket"]["item_ids"] == []
    about = new_conversation(client)
    client.post(f"/api/v1/conversations/{about}/messages", json={"text": "新生儿怎么报户口"})
    r = client.post(f"/api/v1/conversations/{about}/messages", json={"text": "转人工"}).json()
    assert r["ticket"]["department"] == "上海市公安局"


def test_turn_out_serialises_an_exchange_for_the_cli(client: TestClient) -> None:
    from assistant.api.schemas import TurnOut

    exchange = client.assistant.ask("护照要多少钱")  # type: ignore[attr-defined]
    body = TurnOut.from_exchange(exchange).model_dump(mode="json")
    assert body["conversation_id"] == exchange.conversation_id
    assert body["citations"][0]["item_id"] == "passport-apply" and body["queue"] is None
    assert body["timings_ms"]["total"] > 0


def _sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_streamed_answer_arrives_in_pieces_then_the_stored_turn(client: TestClient) -> None:
    cid = new_conversation(client)
    r = client.post(f"/api/v1/conversations/{cid}/messages/stream", json={"text": "办护照要带什么材料"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _sse(r.text)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1 and "delta" in kinds
    done = events[-1][1]
    assert "".join(d["text"] for k, d in events if k == "delta") == done["answer"]
    assert done["item_ids"][0] == "passport-apply" and done["citations"]
    stored = client.get(f"/api/v1/conversations/{cid}").json()
    assert [m["role"] for m in stored["messages"]][-2:] == ["user", "assistant"]


def test_streamed_bad_input_is_a_json_error_and_writes_nothing(client: TestClient) -> None:
    cid = new_conversation(client)
    assert_error(client.post(f"/api/v1/conversations/{cid}/messages/stream", json={"text": "  "}), 422, "invalid_input")
    assert_error(client.post("/api/v1/conversations/nope/messages/stream", json={"text": "护照"}), 404, "not_found")
    assert client.get(f"/api/v1/conversations/{cid}").json()["messages"] == []


def test_the_aspects_asked_are_reported_beside_the_intent(client: TestClient) -> None:
    cid = new_conversation(client)
    body = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "居住证办理要多少钱，多久能拿到"}).json()
    assert body["aspects"] == ["fee", "time_limit"] and body["yes_no"] is False
    follow = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "网上能办吗"}).json()
    assert follow["aspects"] == ["online"] and follow["yes_no"] is True
