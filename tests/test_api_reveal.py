"""Revealing a masked number: only the agent holding the ticket or a supervisor, with a reason, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from assistant.api.app import create_app
from assistant.core.settings import DatabaseSettings, LimitsSettings, PathsSettings, PrivacySettings, load_settings
from assistant.db import MEMORY_URL
from assistant.wiring import build_services, build_stages
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import act_as, citizen_headers, sign_in, staff_client

TYPED = "我的手机138 1234 5678，身份证11010519491231002X，居住证怎么办"
REASON = "按预约回拨市民手机"


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("stages")
    return build_stages(load_settings(paths=PathsSettings(data_dir=data)), items=tiny_items(), embedder=KeywordEmbedder())


def make_client(stages, data_dir: Path, backend: str, *, key: str | None = None):
    settings = load_settings(
        paths=PathsSettings(data_dir=data_dir),
        database=DatabaseSettings(url=MEMORY_URL if backend == "memory" else ""),
        privacy=PrivacySettings(key=Fernet.generate_key().decode() if key is None else key),
        limits=LimitsSettings(enabled=False),
    )
    services = build_services(settings, stages=stages)
    client = staff_client(create_app(settings, services=services))
    client.services = services  # type: ignore[attr-defined]
    return client


def _handed_off(client) -> tuple[str, int, int, int]:
    """A conversation with a masked message and a plain one, handed off: (id, ticket, masked msg, plain msg)."""
    conversation = client.post("/api/v1/conversations", json={}).json()
    cid, citizen = conversation["id"], citizen_headers(conversation)
    masked = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": TYPED}, headers=citizen).json()
    plain = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照怎么办"}, headers=citizen).json()
    ticket = client.post(f"/api/v1/conversations/{cid}/handoff", json={}, headers=citizen).json()["ticket"]["id"]
    return cid, ticket, masked["user_message_id"], plain["user_message_id"]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_the_agent_holding_the_ticket_reveals_with_a_reason_and_it_is_audited(stages, data_dir: Path, backend: str) -> None:
    with make_client(stages, data_dir, backend) as client:
        cid, ticket, masked, plain = _handed_off(client)
        url = f"/api/v1/helpdesk/tickets/{ticket}/messages/{masked}/reveal"
        act_as(client, "wang", "agent")
        # staff see the mask by default
        detail = client.get(f"/api/v1/helpdesk/tickets/{ticket}").json()
        shown = next(m["text"] for m in detail["conversation"]["messages"] if m["id"] == masked)
        assert "[手机号·尾号5678]" in shown and "138 1234 5678" not in shown and "11010519491231002X" not in shown
        # not claimed yet: refused, and nothing is audited
        refused = client.post(url, json={"reason": REASON})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "reveal_not_allowed"
        assert "claim it" in refused.json()["error"]["message"]
        assert client.post(f"/api/v1/helpdesk/tickets/{ticket}/claim", json={}).status_code == 200
        assert client.post(url, json={}).status_code == 422  # a reason is required
        shown = client.post(url, json={"reason": REASON})
        assert shown.status_code == 200, shown.text
        assert shown.json() == {"message_id": masked, "text": TYPED, "kinds": ["mobile", "resident_id"]}
        assert shown.headers["Cache-Control"] == "no-store"
        # a message with nothing masked, a bot answer, a message of another conversation: 404
        assert client.post(f"/api/v1/helpdesk/tickets/{ticket}/messages/{plain}/reveal", json={"reason": REASON}).status_code == 404
        assert client.post(f"/api/v1/helpdesk/tickets/{ticket}/messages/{masked + 1}/reveal", json={"reason": REASON}).status_code == 404
        _, other_ticket, other_masked, _ = _handed_off(client)
        wrong = client.post(f"/api/v1/helpdesk/tickets/{ticket}/messages/{other_masked}/reveal", json={"reason": REASON})
        assert wrong.status_code == 404

        act_as(client, "chief", "supervisor")
        records = client.get("/api/v1/audit", params={"action": "pii.reveal"}).json()
        items = records["records"]
        assert len(items) == 1
        record = items[0]
        assert record["actor"] == "wang" and record["action"] == "pii.reveal" and record["target"] == f"message:{masked}"
        assert record["after"] == {"ticket": ticket, "conversation": cid, "reason": REASON, "kinds": ["mobile", "resident_id"]}
        assert record["at"].endswith(("Z", "+00:00"))  # when, in UTC
        # a supervisor reveals without holding the ticket (oversight, complaints)
        other = client.post(f"/api/v1/helpdesk/tickets/{other_ticket}/messages/{other_masked}/reveal", json={"reason": "投诉复核"})
        assert other.status_code == 200 and other.json()["text"] == TYPED
        audit_text = client.get("/api/v1/audit").text
        assert "138 1234 5678" not in audit_text and "11010519491231002X" not in audit_text


@pytest.mark.parametrize("role", ["kb_operator", "agent"])
def test_others_see_masks_only(stages, data_dir: Path, role: str) -> None:
    with make_client(stages, data_dir, "memory") as client:
        _, ticket, masked, _ = _handed_off(client)
        act_as(client, "holder", "agent")
        assert client.post(f"/api/v1/helpdesk/tickets/{ticket}/claim", json={}).status_code == 200
        sign_in(client, role, username=f"another.{role}")  # another agent, or a knowledge operator
        r = client.post(f"/api/v1/helpdesk/tickets/{ticket}/messages/{masked}/reveal", json={"reason": REASON})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == ("forbidden" if role == "kb_operator" else "reveal_not_allowed")
        act_as(client, "holder", "agent")  # the holder's claim ends with the ticket: no reveal after resolving
        assert client.post(f"/api/v1/helpdesk/tickets/{ticket}/resolve", json={"resolution": "answered"}).status_code == 200
        r = client.post(f"/api/v1/helpdesk/tickets/{ticket}/messages/{masked}/reveal", json={"reason": REASON})
        assert r.status_code == 403


def test_without_a_privacy_key_nothing_can_be_revealed(stages, data_dir: Path) -> None:
    with make_client(stages, data_dir, "sqlite", key="") as client:
        _, ticket, masked, _ = _handed_off(client)
        sign_in(client, "supervisor")
        r = client.post(f"/api/v1/helpdesk/tickets/{ticket}/messages/{masked}/reveal", json={"reason": REASON})
        assert r.status_code == 404 and "XS_PRIVACY__KEY" in r.json()["error"]["message"]
