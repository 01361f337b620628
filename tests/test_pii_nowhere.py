"""A message carrying a resident ID leaves no raw ID anywhere: database file, logs, staff API, eval export."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from assistant.api.app import create_app
from assistant.core.settings import DatabaseSettings, PathsSettings, PrivacySettings, load_settings
from assistant.wiring import build_services, build_stages
from eval.metrics import TurnOutcome, summarize
from eval.runner import RunResult
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import citizen_headers, sign_in, staff_client

ID = "11010519491231002X"
#: the forms a citizen types, each of which must vanish (raw and as its digits).
TYPED = (
    f"我的身份证号是{ID}，想问居住证怎么办",
    "身份证 110105 19491231 002x 护照怎么办",
    "证件号１１０１０５１９４９１２３１００２Ｘ，转人工",
    "身份证110105\u200b19491231\u200b002X",
)


def _raw_forms() -> list[str]:
    return [ID, ID.lower(), "110105 19491231 002x", "１１０１０５１９４９１２３１００２Ｘ", "110105\u200b19491231"]


def _assert_clean(blob: str, where: str) -> None:
    for raw in _raw_forms():
        assert raw not in blob, f"raw ID {raw!r} found in {where}"


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("stages")
    return build_stages(load_settings(paths=PathsSettings(data_dir=data)), items=tiny_items(), embedder=KeywordEmbedder())


def test_no_raw_id_in_database_logs_staff_api_or_export(
    data_dir: Path, stages, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(
        paths=PathsSettings(data_dir=data_dir), database=DatabaseSettings(url=""), privacy=PrivacySettings(key=key)
    )
    services = build_services(settings, stages=stages)
    caplog.set_level(logging.DEBUG)
    with staff_client(create_app(settings, services=services)) as client:
        conversation = client.post("/api/v1/conversations", json={}).json()
        cid, citizen = conversation["id"], citizen_headers(conversation)
        for text in TYPED:
            r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": text}, headers=citizen)
            assert r.status_code == 200, r.text
        r = client.post(f"/api/v1/conversations/{cid}/handoff", json={"note": f"请核对 {ID}"}, headers=citizen)
        assert r.status_code == 200, r.text
        # "转人工" in a message already handed off: the ticket may predate the note
        ticket_id = services.assistant.store.tickets_of(cid)[0].id
        sign_in(client, "supervisor")  # an agent who also reads the audit log
        assert client.post(f"/api/v1/helpdesk/tickets/{ticket_id}/claim", json={}).status_code == 200
        staff = [
            client.get(f"/api/v1/conversations/{cid}", headers=citizen).text,
            client.get("/api/v1/helpdesk/tickets").text,
            client.get("/api/v1/helpdesk/queue").text,
            client.get(f"/api/v1/helpdesk/tickets/{ticket_id}").text,
            client.get("/api/v1/audit").text,
        ]
        assert '"ticket.claim"' in staff[-1]
        # the masked placeholder is what staff read
        assert "[身份证号·尾号002X]" in staff[3]
        # the original is kept, encrypted, for a role that may reveal it
        conversation = services.assistant.store.get(cid)
        first_user = next(t for t in conversation.turns if t.role == "user")
        assert services.assistant.store.reveal_original(first_user.id) == TYPED[0]
    for i, page in enumerate(staff):
        _assert_clean(page, f"staff API response {i}")
    _assert_clean("\n".join(r.getMessage() for r in caplog.records), "the logs")
    db_files = sorted(data_dir.glob("*.db*"))
    assert db_files, list(data_dir.iterdir())
    for f in db_files:
        # bytes as UTF-8 text (the WAL and journal files too): no raw form survives
        _assert_clean(f.read_bytes().decode("utf-8", errors="replace"), f.name)

    from eval.report import write_report

    outcome = TurnOutcome(case_id="c1", turn=0, user=TYPED[0], lang="zh", expect_items=("nope",), ranking=("x",), scores=(0.1,))
    result = RunResult(source="test", outcomes=(outcome,), metrics=summarize([outcome], cases=1))
    out = tmp_path / "report"
    written = write_report(result, out, settings_json={})
    for path in written:
        if path.suffix in (".jsonl", ".json", ".md"):
            _assert_clean(path.read_text(encoding="utf-8"), path.name)
    assert "[身份证号·尾号002X]" in (out / "failures.jsonl").read_text(encoding="utf-8")
