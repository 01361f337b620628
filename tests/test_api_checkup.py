"""The check-up over HTTP: ``POST /api/v1/checkup`` and the check-up inside a chat conversation."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.core.settings import PathsSettings, load_settings
from assistant.wiring import build_services, build_stages
from knowledge_base.loader import load_items
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import keep_conversation_tokens

KB = Path(__file__).resolve().parents[1] / "knowledge_base" / "items"


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The tiny fake knowledge base plus the items that carry eligibility data."""
    data = tmp_path_factory.mktemp("stages")
    settings = load_settings(paths=PathsSettings(data_dir=data))
    items = {i.id: i for i in (*tiny_items(), *(i for i in load_items(KB) if i.eligibility is not None))}
    return build_stages(settings, items=list(items.values()), embedder=KeywordEmbedder())


@pytest.fixture
def settings(data_dir: Path):  # type: ignore[no-untyped-def]
    return load_settings(paths=PathsSettings(data_dir=data_dir))


@pytest.fixture
def client(settings, stages):  # type: ignore[no-untyped-def]
    services = build_services(settings, stages=stages)
    app = create_app(settings, services=services)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.storage = services.storage  # type: ignore[attr-defined]
        # the chat sends each conversation's own token; the check-up endpoint needs none
        yield keep_conversation_tokens(c)


def by_id(body: dict, status: str) -> dict[str, dict]:
    return {v["item_id"]: v for v in body[status]}


def test_a_profile_gets_three_lists_citing_the_conditions(client: TestClient) -> None:
    r = client.post("/api/v1/checkup", json={"profile": {"age": 70, "residence": "hukou", "employment": "retired",
                                                         "insurance_months": 360}})
    assert r.status_code == 200, r.text
    body = r.json()
    eligible = by_id(body, "eligible")
    assert set(eligible) == {"elderly-allowance", "elderly-health-checkup", "medical-insurance-ltc"}
    allowance = eligible["elderly-allowance"]
    assert [c["condition"] for c in allowance["reasons"]] == ["具有本市户籍", "年满65周岁"]
    assert allowance["how_to_apply"].startswith("办理：") and allowance["automatic"] is False
    assert "subsistence-allowance" in by_id(body, "possible")  # the income is not known yet
    assert by_id(body, "possible")["subsistence-allowance"]["reasons"][0]["missing"] == ["income"]
    assert by_id(body, "ineligible")["unemployment-benefit"]["reasons"][0]["outcome"] == "unmet"
    assert body["next_questions"] and body["next_questions"][0]["checklist"] is True
    assert client.post("/api/v1/checkup", json={"profile": {"age": 70, "residence": "hukou", "employment": "retired",
                                                            "insurance_months": 360}}).json() == body


def test_children_ages_and_declined_fields(client: TestClient) -> None:
    body = client.post("/api/v1/checkup", json={"profile": {"children_ages": [5, 1]}, "declined": ["age"]}).json()
    assert "childcare-subsidy" in by_id(body, "eligible")
    assert all("age" not in q["fields"] for q in body["next_questions"])
    none = client.post("/api/v1/checkup", json={"profile": {"children_ages": []}}).json()
    assert "childcare-subsidy" in by_id(none, "ineligible")


def test_an_enterprise_in_english(client: TestClient) -> None:
    body = client.post("/api/v1/checkup", json={
        "audience": "enterprise", "lang": "en",
        "profile": {"unemployment_insurance": "yes", "layoffs": "none", "dishonest": "no", "company_size": "sme"},
    }).json()
    stab = by_id(body, "eligible")["job-stabilization-subsidy"]
    assert stab["automatic"] is True and "automatically" in stab["how_to_apply"]
    assert stab["name"] == "Job stabilisation subsidy (unemployment insurance refund) for employers"
    assert body["next_questions"][0]["fields"] == ["hired_youth"]


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ({"profile": {"shoe_size": 42}}, "shoe_size"),
        ({"profile": {"residence": "mars"}}, "residence"),
        ({"profile": {"age": 300}}, "age"),
        ({"audience": "enterprise", "profile": {"age": 30}}, "age"),
        ({"declined": ["layoffs"]}, "layoffs"),
        ({"profile": {"age": 30}, "declined": ["age"]}, "age"),
        ({"audience": "alien"}, "audience"),
    ],
)
def test_bad_profiles_get_a_422_naming_the_field(client: TestClient, payload: dict, fragment: str) -> None:
    r = client.post("/api/v1/checkup", json=payload)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]
    assert "Traceback" not in r.text


def test_the_check_up_in_a_chat_keeps_the_profile_in_the_state_only(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    cid = client.post("/api/v1/conversations", json={}).json()["id"]
    r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "帮我看看我能享受哪些政策"}).json()
    assert r["action"] == "clarify" and any(o["label"] == "不想说" for o in r["options"])
    for _ in range(8):
        option = r["options"][0]
        text = option["value"] if not option.get("toggle") else "以上都没有"
        r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": text}).json()
        if r["action"] == "answer":
            break
    assert r["action"] == "answer" and "可以享受" in r["answer"]
    assert r["citations"] and r["item_ids"]
    # the reloaded conversation shows the checklist rows as toggles again
    conv = client.get(f"/api/v1/conversations/{cid}").json()
    assert any(o.get("toggle") for m in conv["messages"] for o in m["options"])
    # the profile is in the conversation's state row and nowhere else in the database
    db = sqlite3.connect(settings.paths.data_dir / "xiaoshen.db")
    (state,) = db.execute("select state from conversations where id = ?", (cid,)).fetchone()
    assert json.loads(state)["checkup"]["profile"]["choices"]["residence"] == "hukou"
    for (table,) in db.execute("select name from sqlite_master where type = 'table'"):
        if table == "conversations":
            continue
        for row in db.execute(f'select * from "{table}"'):  # noqa: S608 - table names from sqlite_master
            stored = json.dumps(row, default=str, ensure_ascii=False)
            assert "choices" not in stored and "declined" not in stored, table
    # deleted with the conversation
    db.execute("pragma foreign_keys = on")
    db.execute("delete from conversations where id = ?", (cid,))
    db.commit()
    assert db.execute("select count(*) from conversations where state like '%checkup%'").fetchone() == (0,)
    assert db.execute("select count(*) from messages where conversation_id = ?", (cid,)).fetchone() == (0,)
