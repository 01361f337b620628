"""The helpdesk through the HTTP API on a scripted clock: queue, claims, live replies, SLA figures.

Agents sign in with their own accounts (``tests/staff.py``): a body's ``agent``
switches the client to that agent's account first (``post``), and the client
keeps its citizens' conversation tokens as the web chat does.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.db import MEMORY_URL, open_storage
from assistant.core.settings import AuthSettings, DatabaseSettings, HelpdeskSettings, PathsSettings, load_settings
from assistant.wiring import build_services, build_stages
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import act_as, keep_conversation_tokens, sign_in, sign_out, staff_client

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("stages")
    return build_stages(load_settings(paths=PathsSettings(data_dir=data)), items=tiny_items(), embedder=KeywordEmbedder())


def make_client(
    data_dir: Path, stages, clock: Clock, backend: str = "sqlite", auth: AuthSettings | None = None, **helpdesk: object
) -> TestClient:
    database = DatabaseSettings(url=MEMORY_URL if backend == "memory" else "")
    settings = load_settings(
        paths=PathsSettings(data_dir=data_dir),
        helpdesk=HelpdeskSettings(**helpdesk),
        database=database,
        auth=auth or AuthSettings(),
    )
    # The storage, the escalation rules, the helpdesk and the sessions all read the same scripted clock.
    storage = open_storage(settings.database_url(), helpdesk=settings.helpdesk, clock=clock)
    services = build_services(settings, storage=storage, stages=stages)
    return keep_conversation_tokens(staff_client(create_app(settings, services=services)))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture(params=["sqlite", "memory"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every helpdesk test runs on SQLite and on the in-memory store."""
    return request.param


@pytest.fixture
def client(data_dir: Path, stages, clock: Clock, backend: str):
    with make_client(data_dir, stages, clock, backend) as c:
        sign_in(c, "supervisor")  # reads the queue and the service levels; `post` switches to the agents
        yield c


def open_with_handoff(client: TestClient, question: str, **conversation: object) -> tuple[str, dict]:
    cid = client.post("/api/v1/conversations", json=conversation).json()["id"]
    client.post(f"/api/v1/conversations/{cid}/messages", json={"text": question})
    handoff = client.post(f"/api/v1/conversations/{cid}/handoff", json={}).json()
    return cid, handoff["ticket"]


def post(client: TestClient, path: str, **body: object) -> dict:
    """POST ``body``; with an ``agent``, as that agent's account (a supervisor, so it reads the reports too)."""
    if body.get("agent"):
        act_as(client, str(body["agent"]), role="supervisor")
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_scripted_timeline_queue_order_sla_and_resolution_figures(client: TestClient, clock: Clock) -> None:
    a, ta = open_with_handoff(client, "社保卡丢了怎么补", elder_mode=True)
    clock.advance(10)
    b, tb = open_with_handoff(client, "新生儿怎么报户口")
    clock.advance(10)
    c, tc = open_with_handoff(client, "营业执照怎么办")
    clock.advance(10)  # t = 30 s

    queue = client.get("/api/v1/helpdesk/queue").json()
    # elder mode gets a 120 s head start: A (30+120) before B (20) before C (10)
    assert [e["ticket"]["id"] for e in queue] == [ta["id"], tb["id"], tc["id"]]
    assert queue[0]["elder_mode"] and queue[0]["waiting_s"] == 30.0 and queue[0]["sla_remaining_s"] == 30.0
    status_c = client.get(f"/api/v1/conversations/{c}/queue").json()
    assert status_c["position"] == 3 and status_c["estimated_wait_s"] == 180.0  # no history yet: 3 x target

    clock.advance(10)  # t = 40
    assert post(client, f"/api/v1/helpdesk/tickets/{ta['id']}/claim", agent="王")["status"] == "claimed"
    act_as(client, "李", role="supervisor")
    conflict = client.post(f"/api/v1/helpdesk/tickets/{ta['id']}/claim", json={"agent": "李"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    clock.advance(10)  # t = 50: first response to A after 50 s
    reply = post(client, f"/api/v1/helpdesk/tickets/{ta['id']}/reply", agent="王", text="您好，社保卡可在随申办挂失补办。")
    assert reply["role"] == "agent"
    clock.advance(10)  # t = 60
    post(client, f"/api/v1/helpdesk/tickets/{tb['id']}/claim", agent="李")
    clock.advance(80)  # t = 140: first response to B after 130 s (created at t = 10)
    post(client, f"/api/v1/helpdesk/tickets/{tb['id']}/reply", agent="李", text="请带出生医学证明到派出所。")

    status_c = client.get(f"/api/v1/conversations/{c}/queue").json()
    assert status_c["position"] == 1 and status_c["estimated_wait_s"] == 50.0  # median of (50, 130), nearest rank
    status_a = client.get(f"/api/v1/conversations/{a}/queue").json()
    assert status_a["position"] == 0 and status_a["agent"] == "王"

    # the citizen sees the agent's reply; the bot stays silent until handed back
    messages = client.get(f"/api/v1/conversations/{a}").json()["messages"]
    assert messages[-1]["role"] == "agent" and messages[-1]["text"].startswith("您好")
    assert post(client, f"/api/v1/conversations/{a}/messages", text="护照怎么办")["action"] == "handoff"
    post(client, f"/api/v1/helpdesk/tickets/{ta['id']}/resolve", agent="王", resolution="answered")
    back = post(client, f"/api/v1/conversations/{a}/messages", text="护照怎么办")
    assert back["action"] == "answer" and back["citations"][0]["item_id"] == "passport-apply"
    post(client, f"/api/v1/conversations/{a}/feedback", rating=5)
    post(client, f"/api/v1/helpdesk/tickets/{tb['id']}/resolve", agent="李", resolution="unresolved")
    post(client, f"/api/v1/conversations/{b}/feedback", rating=2)
    clock.advance(60)  # C has waited 180 s without an answer: a breach

    overall = client.get("/api/v1/metrics/summary").json()["overall"]
    assert overall["conversations"] == 3 and overall["handoffs"] == 3 and overall["handoff_rate"] == 1.0
    assert overall["tickets"] == 3 and overall["first_responses"] == 2
    assert overall["first_response_p50_s"] == 50.0 and overall["first_response_p90_s"] == 130.0
    assert overall["first_response_within_target"] == 0.5
    assert overall["open_breaches"] == 1
    assert overall["human_resolved"] == 1 and overall["human_closed"] == 1 and overall["human_resolution_rate"] == 0.5
    assert overall["rating_mean"] == 3.5
    departments = client.get("/api/v1/metrics/departments").json()
    assert departments["上海市人力资源和社会保障局"]["first_response_p50_s"] == 50.0
    report = client.get("/api/v1/metrics").json()
    assert report["handoff_reasons"] == {"customer_request": 3}
    assert report["resolutions"] == {"answered": 1, "unresolved": 1}
    assert list(report["by_day"]) == ["2026-11-25"]

    prom = client.get("/metrics").text
    assert "xiaoshen_queue_waiting 1.0" in prom
    assert "xiaoshen_first_response_p90_seconds_24h 130.0" in prom


def test_lease_lapses_and_another_agent_takes_over(client: TestClient, clock: Clock) -> None:
    _, t = open_with_handoff(client, "护照怎么办")
    post(client, f"/api/v1/helpdesk/tickets/{t['id']}/claim", agent="王")
    clock.advance(301)  # default lease 300 s
    entry = client.get("/api/v1/helpdesk/queue").json()[0]
    assert entry["lease_lapsed"]
    assert post(client, f"/api/v1/helpdesk/tickets/{t['id']}/claim", agent="李")["agent"] == "李"
    act_as(client, "王", role="supervisor")
    late = client.post(f"/api/v1/helpdesk/tickets/{t['id']}/reply", json={"agent": "王", "text": "在的"})
    assert late.status_code == 409


def test_agent_reply_arrives_live_over_server_sent_events(client: TestClient) -> None:
    cid, t = open_with_handoff(client, "护照怎么办")
    last = client.get(f"/api/v1/conversations/{cid}").json()["messages"][-1]["id"]
    post(client, f"/api/v1/helpdesk/tickets/{t['id']}/claim", agent="王")

    def reply_soon() -> None:
        time.sleep(0.8)
        client.post(f"/api/v1/helpdesk/tickets/{t['id']}/reply", json={"agent": "王", "text": "您好，我是王"})

    events: list[tuple[str, dict]] = []
    sender = threading.Thread(target=reply_soon)
    started = time.monotonic()
    with client.stream("GET", f"/api/v1/conversations/{cid}/events?after={last}&timeout=5") as stream:
        sender.start()
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == "message":
                    break
    sender.join()
    assert time.monotonic() - started < 4.5  # arrived well before the stream's end
    queue_events = [d for k, d in events if k == "queue"]
    assert queue_events and queue_events[0]["ticket_id"] == t["id"]
    message = [d for k, d in events if k == "message"][0]
    assert message["role"] == "agent" and message["text"] == "您好，我是王" and message["id"] > last


def test_console_helpers_suggestion_search_transfer_reopen(client: TestClient) -> None:
    cid, t = open_with_handoff(client, "护照要多少钱")
    detail = client.get(f"/api/v1/helpdesk/tickets/{t['id']}").json()
    assert "护照" in detail["ticket"]["summary"] and detail["events"][0]["kind"] == "created"
    assert [m["role"] for m in detail["conversation"]["messages"]][:2] == ["user", "assistant"]

    suggestion = client.get(f"/api/v1/helpdesk/tickets/{t['id']}/suggestion").json()
    assert suggestion["question"] == "护照要多少钱"
    assert suggestion["citations"][0]["item_id"] == "passport-apply"
    assert "出入境管理部门" in suggestion["text"]  # the fee text of the item, not invented

    hits = client.get("/api/v1/helpdesk/search", params={"q": "办护照"}).json()
    assert hits[0]["item_id"] == "passport-apply"
    assert client.get("/api/v1/helpdesk/canned").json()[0].startswith("您好")
    assert "answered" in client.get("/api/v1/helpdesk/resolutions").json()
    assert "上海市公安局出入境管理局" in client.get("/api/v1/helpdesk/departments").json()

    post(client, f"/api/v1/helpdesk/tickets/{t['id']}/claim", agent="王")
    assert t["department"] == "上海市公安局出入境管理局"  # routed from the item
    moved = post(client, f"/api/v1/helpdesk/tickets/{t['id']}/transfer", agent="王", department="上海市公安局")
    assert moved["status"] == "new" and moved["department"] == "上海市公安局"
    assert client.get(f"/api/v1/conversations/{cid}").json()["messages"][-1]["role"] == "system"
    post(client, f"/api/v1/helpdesk/tickets/{t['id']}/claim", agent="赵")
    post(client, f"/api/v1/helpdesk/tickets/{t['id']}/handback", agent="赵")
    assert not client.get(f"/api/v1/conversations/{cid}").json()["handed_off"]
    reopened = post(client, f"/api/v1/conversations/{cid}/reopen")
    assert reopened["status"] == "new" and client.get(f"/api/v1/conversations/{cid}").json()["handed_off"]
    act_as(client, "赵", role="supervisor")
    bad = client.post(f"/api/v1/helpdesk/tickets/{t['id']}/resolve", json={"agent": "赵", "resolution": "whatever"})
    assert bad.status_code in (409, 422) and "error" in bad.json()
    missing = client.post("/api/v1/helpdesk/tickets/99999/claim", json={})
    assert missing.status_code == 404


def test_sensitive_topic_goes_to_a_person_with_priority(client: TestClient) -> None:
    cid = client.post("/api/v1/conversations", json={}).json()["id"]  # the client keeps its token
    r = post(client, f"/api/v1/conversations/{cid}/messages", text="我不想活了，社保卡也补不了")
    assert r["action"] == "handoff" and r["handoff_reason"] == "sensitive"
    assert r["ticket"]["reason"] == "sensitive" and r["ticket"]["priority"] == 2
    assert "110" in r["answer"]


def test_outside_working_hours_a_call_back_ticket_is_made(data_dir: Path, stages) -> None:
    night = Clock(datetime(2026, 11, 25, 14, 30, tzinfo=timezone.utc))  # 22:30 in Shanghai
    with make_client(data_dir, stages, night, working_hours="09:00-18:00") as client:
        cid, ticket = open_with_handoff(client, "护照怎么办")
        assert ticket["callback"]
        conversation = client.get(f"/api/v1/conversations/{cid}").json()
        assert "09:00-18:00" in conversation["messages"][-1]["text"]
        assert conversation["queue"]["callback"] and not conversation["queue"]["desk_open"]
        sign_in(client, "agent")
        entry = client.get("/api/v1/helpdesk/queue").json()[0]
        assert entry["sla_remaining_s"] is None  # call-backs are not held to the one-minute target


def test_staff_endpoints_need_a_signed_in_agent(data_dir: Path, stages, clock: Clock, backend: str) -> None:
    with make_client(data_dir, stages, clock, backend) as client:
        _, t = open_with_handoff(client, "护照怎么办")  # citizens need only their conversation's token
        r = client.post(f"/api/v1/helpdesk/tickets/{t['id']}/claim", json={})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert client.get("/api/v1/helpdesk/queue").status_code == 401
        sign_in(client, "kb_operator", username="编辑")
        assert client.get("/api/v1/helpdesk/queue").json()["error"]["code"] == "forbidden"
        sign_in(client, "agent", username="王")
        ok = client.post(f"/api/v1/helpdesk/tickets/{t['id']}/claim", json={})
        assert ok.status_code == 200 and ok.json()["agent"] == "王"  # the signed-in account, no name needed
        # no one acts in another's name
        other = client.post(f"/api/v1/helpdesk/tickets/{t['id']}/reply", json={"agent": "李", "text": "冒名"})
        assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
        sign_out(client)
        assert client.get("/api/v1/helpdesk/queue").status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/metrics", "/api/v1/metrics/summary", "/api/v1/metrics/days"])
def test_service_level_reports_need_a_supervisor(data_dir: Path, stages, clock: Clock, backend: str, path: str) -> None:
    with make_client(data_dir, stages, clock, backend) as client:
        r = client.get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        sign_in(client, "agent")
        assert client.get(path).json()["error"]["code"] == "forbidden"
        sign_in(client, "supervisor")
        assert client.get(path).status_code == 200


def test_prometheus_needs_a_supervisor_or_the_scrape_token(data_dir: Path, stages, clock: Clock, backend: str) -> None:
    auth = AuthSettings(metrics_token="scrape-token-of-prometheus")
    with make_client(data_dir, stages, clock, backend, auth=auth) as client:
        assert client.get("/metrics").status_code == 401
        for wrong in ("Bearer nope", "scrape-token-of-prometheus", "Basic scrape-token-of-prometheus"):
            assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-of-prometheus"})
        assert scraped.status_code == 200 and "xiaoshen_http_requests_total" in scraped.text
        # the scrape token opens /metrics and nothing else
        assert client.get("/api/v1/metrics", headers={"Authorization": "Bearer scrape-token-of-prometheus"}).status_code == 401
        sign_in(client, "agent")
        assert client.get("/metrics").status_code == 403
        sign_in(client, "supervisor")
        assert client.get("/metrics").status_code == 200


def test_metrics_window_is_validated(client: TestClient) -> None:
    for params, fragment in (
        ({"since": "2026-11-25T10:00:00"}, "time zone"),
        ({"since": "2026-11-25T10:00:00+08:00", "until": "2026-11-24T10:00:00+08:00"}, "not before"),
        ({"since": "2020-01-01T00:00:00+00:00"}, "longer than 366 days"),
    ):
        r = client.get("/api/v1/metrics", params=params)
        assert r.status_code == 422 and fragment in r.json()["error"]["message"]
    assert client.get("/api/v1/metrics/weeks").status_code == 422
    ok = client.get("/api/v1/metrics/days", params={"since": "2026-11-24T00:00:00+08:00"})
    assert ok.status_code == 200 and ok.json() == {}
