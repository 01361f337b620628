"""The workbench through the HTTP API, on a file knowledge base with the fake embedder.

A missed question becomes an alias in a draft, is previewed, passes the gate
and is published: the running app answers from it without a restart.  A draft
that steals another item's question is refused with the broken case; history
shows field-level diffs and a roll-back goes through the gate; a bad rating
becomes a review task that closes the citizen's ticket with a note.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.core.settings import IntentSettings, PathsSettings, WorkbenchSettings, load_settings
from assistant.wiring import build_services
from tests.fakes import KeywordEmbedder
from tests.staff import keep_conversation_tokens, sign_in, staff_client
from tests.workbench_kb import write_workbench_kb


def staff(client: TestClient, role: str) -> TestClient:
    """Sign ``client`` in as staff holding ``role`` (tests/staff.py)."""
    sign_in(client, role)
    return client


@pytest.fixture
def client(tmp_path: Path):
    paths = write_workbench_kb(tmp_path / "kb")
    settings = load_settings(
        paths=PathsSettings(data_dir=tmp_path / "data", kb_dir=paths["kb_dir"], catalog=paths["catalog"]),
        intents=IntentSettings(backend="rules"),
        workbench=WorkbenchSettings(gate_benchmark=paths["bench"]),
        limits={"enabled": False},
    )
    services = build_services(settings, embedder=KeywordEmbedder())
    with staff_client(create_app(settings, services=services)) as c:
        yield keep_conversation_tokens(c)


def ask(client: TestClient, text: str) -> dict:
    cid = client.post("/api/v1/conversations", json={}).json()["id"]
    r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": text})
    assert r.status_code == 200, r.text
    return r.json()


def test_missed_question_alias_preview_gate_publish_live(client: TestClient) -> None:
    staff(client, "kb_operator")
    question = "出国旅游的本本怎么弄"
    before = ask(client, question)
    assert not (before["action"] == "answer" and before["item_ids"][:1] == ["passport-apply"])
    client.post(f"/api/v1/conversations/{before['conversation_id']}/feedback",
                json={"message_id": before["message_id"], "helpful": False})
    inbox = client.get("/api/v1/workbench/missed").json()
    group = next(g for g in inbox["groups"] if question in g["questions"])
    assert group["count"] >= 1 and ("thumbs_down" in group["signals"] or "no_answer" in group["signals"])

    r = client.post("/api/v1/workbench/items/passport-apply/fix", json={"kind": "alias", "question": question})
    assert r.status_code == 200, r.text
    draft = r.json()
    assert draft["problems"] == []
    assert any(d["field"] == "aliases" and d["added"] == [question] for d in draft["diff"])

    preview = client.post("/api/v1/workbench/items/passport-apply/preview", json={"questions": [question]}).json()
    assert preview["rows"][0]["draft"]["items"][0] == "passport-apply"

    gate = client.post("/api/v1/workbench/items/passport-apply/gate").json()
    assert gate["passed"], gate
    assert any(t["source"] == "missed" and t["change"] == "newly_passing" for t in gate["turns"]), gate["turns"]

    published = client.post("/api/v1/workbench/items/passport-apply/publish", json={})
    assert published.status_code == 200, published.text
    after = ask(client, question)
    assert after["action"] == "answer" and after["item_ids"][0] == "passport-apply"
    assert "passport-apply" in {c["item_id"] for c in after["citations"]}

    history = client.get("/api/v1/workbench/items/passport-apply/history").json()
    latest = history["versions"][0]
    assert latest["current"] and any(d["field"] == "aliases" for d in latest["diff"])
    assert len(history["versions"]) == 2  # the baseline and the published edit

    marked = client.get("/api/v1/workbench/missed").json()
    assert all(question not in g["questions"] for g in marked["groups"])


def test_gate_refuses_a_draft_that_breaks_a_case_and_rollback_goes_through_it(client: TestClient) -> None:
    staff(client, "kb_operator")
    r = client.post("/api/v1/workbench/items/passport-apply/fix", json={"kind": "alias", "question": "社保卡丢了怎么补办"})
    assert r.status_code == 200, r.text
    refused = client.post("/api/v1/workbench/items/passport-apply/publish", json={})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"]["code"] == "gate_refused"
    broken = [t for t in body["gate"]["turns"] if t["change"] == "newly_failing"]
    assert broken and broken[0]["case_id"] == "card-1"
    # nothing was written: the citizen still gets the social-security card
    assert ask(client, "社保卡丢了怎么补办")["item_ids"][0] == "social-security-card"

    client.delete("/api/v1/workbench/items/passport-apply/draft")
    client.post("/api/v1/workbench/items/passport-apply/fix", json={"kind": "alias", "question": "出国的本本"})
    assert client.post("/api/v1/workbench/items/passport-apply/publish", json={}).status_code == 200
    back = client.post("/api/v1/workbench/items/passport-apply/rollback", json={"version": 0})
    assert back.status_code == 200, back.text
    history = client.get("/api/v1/workbench/items/passport-apply/history").json()
    assert len(history["versions"]) == 3
    assert any(d["field"] == "aliases" and d["removed"] == ["出国的本本"] for d in history["versions"][0]["diff"])
    assert "rollback to version 0" in history["file_history"][0]["change"]


def test_bad_rating_review_closes_the_ticket_with_a_note(client: TestClient) -> None:
    staff(client, "kb_operator")
    turn = ask(client, "社保卡丢了怎么补办")
    cid = turn["conversation_id"]
    client.post(f"/api/v1/conversations/{cid}/handoff", json={"note": ""})
    client.post(f"/api/v1/conversations/{cid}/feedback", json={"rating": 1, "comment": "没说清楚"})
    tasks = client.get("/api/v1/workbench/reviews").json()
    task = next(t for t in tasks["tasks"] if t["conversation_id"] == cid)
    assert task["status"] == "open" and tasks["summary"]["bad_ratings"] >= 1
    r = client.post(f"/api/v1/workbench/reviews/{task['feedback_id']}/close",
                    json={"finding": "knowledge_missing", "fix": "social-security-card draft", "note": "已补充补办地点，谢谢您的反馈。"})
    assert r.status_code == 200, r.text
    conversation = client.get(f"/api/v1/conversations/{cid}").json()
    assert conversation["messages"][-1]["text"] == "已补充补办地点，谢谢您的反馈。"
    assert not conversation["handed_off"]
    summary = client.get("/api/v1/workbench/reviews").json()["summary"]
    assert summary["fixed_on_time"] == 1
    assert client.get("/api/v1/workbench/insights").status_code == 403  # the dashboard's audience
    staff(client, "supervisor")
    insights = client.get("/api/v1/workbench/insights").json()
    assert insights["reviews"]["fixed_on_time"] == 1 and insights["intents"]


def test_draft_fields_are_validated_as_kb_validate_does(client: TestClient) -> None:
    staff(client, "kb_operator")
    r = client.put("/api/v1/workbench/items/passport-apply/draft", json={"fields": {"aliases": "护照", "fees": "免费"}})
    assert r.status_code == 200, r.text
    problems = r.json()["problems"]
    assert any("aliases" in p and "at least 5" in p for p in problems)
    bad_yaml = client.put("/api/v1/workbench/items/passport-apply/draft", json={"fields": {"faqs": "- question: [unclosed"}})
    assert bad_yaml.status_code == 422 and "faqs" in bad_yaml.json()["error"]["message"]
    refused = client.post("/api/v1/workbench/items/passport-apply/publish", json={})
    assert refused.status_code == 422 and "aliases" in refused.json()["error"]["message"]


def test_only_a_supervisor_publishes_over_the_gate_and_every_change_is_audited(client: TestClient, monkeypatch) -> None:
    from assistant.api.routes import workbench as routes
    from assistant.workbench import OverrideForbidden

    audited: list[tuple[str, str]] = []
    monkeypatch.setattr(routes, "audit", lambda request, who, action, target, before=None, after=None: audited.append((action, target)))
    staff(client, "kb_operator")
    client.post("/api/v1/workbench/items/passport-apply/fix", json={"kind": "alias", "question": "社保卡丢了怎么补办"})
    refused = client.post("/api/v1/workbench/items/passport-apply/publish", json={"override_reason": "热线确认"})
    assert refused.status_code == 403 and "only a supervisor" in refused.json()["error"]["message"]
    bench = client.app.state.workbench
    with pytest.raises(OverrideForbidden, match="only a supervisor"):
        bench.publish("passport-apply", by="operator", override_reason="热线确认", can_override=False)
    staff(client, "supervisor")
    r = client.post("/api/v1/workbench/items/passport-apply/publish", json={"override_reason": "12345 热线确认过"})
    assert r.status_code == 200, r.text
    assert r.json()["gate"]["override"]["reason"] == "12345 热线确认过"
    latest = client.get("/api/v1/workbench/items/passport-apply/history").json()["versions"][0]
    assert latest["gate"]["override"]["reason"] == "12345 热线确认过"
    assert ("kb.edit", "passport-apply") in audited and ("kb.gate_override", "passport-apply") in audited
    assert ("kb.publish", "passport-apply") in audited
