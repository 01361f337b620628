"""The versioned index artefact: written whole, hash-checked on load, switched to while serving."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.artefact import ArtefactError, current_version, open_artefact, publish, versions
from assistant.core.errors import IndexNotBuilt
from assistant.core.settings import ArtefactSettings, LimitsSettings
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import new_conversation
from tests.workers import build_tiny_artefact, renamed_summary, tiny_settings


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return tiny_settings(tmp_path, limits=LimitsSettings(enabled=False), artefact=ArtefactSettings(watch_s=0.2, keep=2))


def test_build_writes_a_verified_version_and_an_unchanged_build_writes_none(settings) -> None:  # type: ignore[no-untyped-def]
    first, new = build_tiny_artefact(settings)
    assert new and current_version(settings.artefact_dir()) == first.version
    names = set(first.manifest["files"])
    assert {"policy.json", "index/manifest.json", "index/dense.faiss", "index/bm25.npz", "index/analyzer.json"} <= names
    assert {f"items/{i.id}.yaml" for i in tiny_items()} <= names
    assert first.manifest["items"] == 10 and first.embedder == "fake-keyword" and len(first.kb_version) == 64
    again, new = build_tiny_artefact(settings)
    assert not new and again.version == first.version and versions(settings.artefact_dir()) == [first.version]
    changed, new = build_tiny_artefact(settings, renamed_summary(tiny_items(), "passport-apply", "护照新的说明。"))
    assert new and changed.version != first.version and changed.kb_version != first.kb_version
    assert changed.manifest["previous"] == first.version


@pytest.mark.parametrize("damage", ["altered", "missing", "extra"])
def test_a_damaged_version_is_refused_naming_the_file(settings, damage: str) -> None:  # type: ignore[no-untyped-def]
    artefact, _ = build_tiny_artefact(settings)
    target = artefact.path / "index" / "bm25.npz"
    if damage == "altered":
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "missing":
        target.unlink()
    else:
        (artefact.path / "index" / "stray.bin").write_bytes(b"x")
    with pytest.raises(ArtefactError, match="bm25.npz|stray.bin"):
        open_artefact(settings.artefact_dir())


def test_no_artefact_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="xiaoshen kb build"):
        open_artefact(tmp_path / "nothing")


def test_publish_rolls_back_and_prune_keeps_the_current(settings) -> None:  # type: ignore[no-untyped-def]
    items = tiny_items()
    made = [build_tiny_artefact(settings, renamed_summary(items, "passport-apply", f"第{n}版。"))[0].version for n in range(4)]
    kept = versions(settings.artefact_dir())
    assert kept == made[-2:]  # keep=2
    publish(settings.artefact_dir(), made[-2])
    assert open_artefact(settings.artefact_dir()).version == made[-2]
    with pytest.raises(ArtefactError, match="no artefact version"):
        publish(settings.artefact_dir(), made[0])  # pruned


def test_the_index_of_an_artefact_is_read_only_and_must_match_its_items(settings) -> None:  # type: ignore[no-untyped-def]
    from retrieval.hybrid import open_retriever

    artefact, _ = build_tiny_artefact(settings)
    before = {p: p.stat().st_mtime_ns for p in artefact.path.rglob("*")}
    other = renamed_summary(tiny_items(), "passport-apply", "别的内容。")
    with pytest.raises(IndexNotBuilt, match="other items"):
        open_retriever(other, KeywordEmbedder(), settings.retrieval, artefact.index_dir)
    assert {p: p.stat().st_mtime_ns for p in artefact.path.rglob("*")} == before


def test_services_from_an_artefact_answer_like_the_build(settings) -> None:  # type: ignore[no-untyped-def]
    from assistant.wiring import build_services, build_services_from_artefact

    artefact, _ = build_tiny_artefact(settings)
    built = build_services(settings, items=tiny_items(), embedder=KeywordEmbedder(), storage=None)
    loaded = build_services_from_artefact(settings, artefact, embedder=KeywordEmbedder())
    for question in ("居住证怎么办理", "护照丢了怎么办", "社保卡补办"):
        a = built.assistant.ask(question).result
        b = loaded.assistant.ask(question).result
        assert [h.item_id for h in a.hits] == [h.item_id for h in b.hits]
        assert a.answer.text == b.answer.text
    assert loaded.artefact is artefact


def test_a_running_app_switches_to_a_new_version_without_a_failed_request(settings) -> None:  # type: ignore[no-untyped-def]
    from assistant.api.app import create_app
    from assistant.wiring import build_services_from_artefact

    first, _ = build_tiny_artefact(settings)
    services = build_services_from_artefact(settings, first, embedder=KeywordEmbedder())
    app = create_app(settings, services=services)
    failures: list[str] = []
    seen: list[tuple[float, str, str, float]] = []  # (answered, version, answer, began)
    stop = threading.Event()
    with TestClient(app, raise_server_exceptions=False) as client:
        def ask() -> None:
            # one conversation per thread: a citizen does not race themselves
            cid, headers = new_conversation(client)
            while not stop.is_set():
                began = time.monotonic()
                r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照是什么"}, headers=headers)
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                else:
                    seen.append((time.monotonic(), r.headers["X-KB-Version"], r.json()["answer"], began))

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        second, _ = build_tiny_artefact(settings, renamed_summary(tiny_items(), "passport-apply", "护照第二版说明文字。"))
        published = time.monotonic()
        deadline = published + 5
        while time.monotonic() < deadline and not any(v == second.version for _, v, _, _ in seen[-3:]):
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        ready = client.get("/readyz").json()
    assert failures == []
    switched = [t for t, v, _, _ in seen if v == second.version]
    assert switched and min(switched) - published < 5, "the app did not switch within 5 s"
    # once switched, every request that begins later is answered by the new version (one begun
    # before may finish on the old one); every answer matches the version that served it
    first_new = min(switched)
    assert all(v == second.version for _, v, _, began in seen if began > first_new)
    assert all(("第二版" in a) == (v == second.version) for _, v, a, _ in seen if "护照" in a)
    assert ready["artefact"] == second.version and ready["kb_version"] == second.kb_version
    assert app.state.artefact_watcher.switches[-1][0] == second.version


def test_a_damaged_new_version_keeps_the_old_one_serving_and_is_reported(settings) -> None:  # type: ignore[no-untyped-def]
    from assistant.api.app import create_app
    from assistant.wiring import build_services_from_artefact

    first, _ = build_tiny_artefact(settings)
    app = create_app(settings, services=build_services_from_artefact(settings, first, embedder=KeywordEmbedder()))
    with TestClient(app, raise_server_exceptions=False) as client:
        second, _ = build_tiny_artefact(settings, renamed_summary(tiny_items(), "passport-apply", "坏的一版。"))
        publish(settings.artefact_dir(), first.version)  # hold the pointer while we damage the new version
        (second.path / "policy.json").write_text(json.dumps({"broken": True}), encoding="utf-8")
        publish(settings.artefact_dir(), second.version)
        deadline = time.monotonic() + 5
        body = client.get("/readyz").json()
        while "artefact_failed" not in body and time.monotonic() < deadline:
            time.sleep(0.1)
            body = client.get("/readyz").json()
        assert body["status"] == "ready" and body["artefact"] == first.version
        assert body["artefact_failed"]["version"] == second.version and "policy.json" in body["artefact_failed"]["error"]
        cid, headers = new_conversation(client)
        r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照怎么办理"}, headers=headers)
        assert r.status_code == 200 and r.headers["X-KB-Version"] == first.version
