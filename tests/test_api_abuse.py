"""Abuse limits and hardened responses, through TestClient on the tiny fakes.

Rate limits per conversation and per client (a forged X-Forwarded-For resets
nothing), the length cap before any model runs, security headers, no API docs
in production mode, and generic 500s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.api.ratelimit import client_address
from assistant.core.settings import DatabaseSettings, PathsSettings, load_settings
from assistant.db import MEMORY_URL
from assistant.wiring import build_services, build_stages
from tests.fakes import KeywordEmbedder, tiny_items
from tests.staff import keep_conversation_tokens, staff_client

import ipaddress


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):
    settings = load_settings(paths=PathsSettings(data_dir=tmp_path_factory.mktemp("stages")))
    return build_stages(settings, items=tiny_items(), embedder=KeywordEmbedder())


def make_client(stages, data_dir: Path, **overrides: object) -> TestClient:
    overrides.setdefault("database", DatabaseSettings(url=MEMORY_URL))
    settings = load_settings(paths=PathsSettings(data_dir=data_dir), **overrides)
    services = build_services(settings, stages=stages)
    # the client keeps its conversations' tokens as the web chat does (access control is not this file's subject)
    client = keep_conversation_tokens(staff_client(create_app(settings, services=services)))
    client.services = services  # type: ignore[attr-defined]
    return client


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == code


def test_messages_per_conversation_are_limited_with_retry_after(stages, tmp_path: Path) -> None:
    with make_client(stages, tmp_path, limits={"message_per_conversation": "2/minute"}) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        other = client.post("/api/v1/conversations", json={}).json()["id"]
        for _ in range(2):
            assert client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "居住证怎么办理"}).status_code == 200
        r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "居住证怎么办理"})
        assert_error(r, 429, "rate_limited")
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "2 per 1 minute" in r.json()["error"]["message"]
        # the refused message was not stored; another conversation has its own count
        assert len(client.get(f"/api/v1/conversations/{cid}").json()["messages"]) == 4
        assert client.post(f"/api/v1/conversations/{other}/messages", json={"text": "居住证怎么办理"}).status_code == 200


def test_messages_per_client_are_limited_over_its_conversations(stages, tmp_path: Path) -> None:
    with make_client(stages, tmp_path, limits={"message_per_client": "3/minute"}) as client:
        ids = [client.post("/api/v1/conversations", json={}).json()["id"] for _ in range(4)]
        codes = [client.post(f"/api/v1/conversations/{i}/messages", json={"text": "护照"}).status_code for i in ids]
        assert codes == [200, 200, 200, 429]


def test_a_forged_forwarded_for_does_not_reset_the_client_limit(stages, tmp_path: Path) -> None:
    # TestClient's peer is "testclient": no trusted proxy, so X-Forwarded-For is ignored.
    with make_client(stages, tmp_path, limits={"conversation_per_client": "2/minute"}) as client:
        codes = [
            client.post("/api/v1/conversations", json={}, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(4)
        ]
        assert codes == [201, 201, 429, 429]


def test_forwarded_for_is_read_only_behind_a_trusted_proxy_from_the_right() -> None:
    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    # the direct peer is the client when it is no proxy of ours, whatever the header says
    assert client_address("198.51.100.7", "1.2.3.4", trusted) == "198.51.100.7"
    # behind our proxy: the right-most hop our proxy did not write is the client;
    # the forged left part ("1.2.3.4") cannot replace it
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7", trusted) == "198.51.100.7"
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.9", trusted) == "198.51.100.7"
    assert client_address("10.0.0.2", "", trusted) == "10.0.0.2"
    assert client_address("10.0.0.2", "10.0.0.5", trusted) == "10.0.0.5"


def test_oversize_message_gets_413_before_any_model_runs(stages, tmp_path: Path, monkeypatch) -> None:
    with make_client(stages, tmp_path, server={"max_message_chars": 50}) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        engine = client.services.assistant.dialogue  # type: ignore[attr-defined]
        calls: list[str] = []
        real = engine.classifier.classify
        monkeypatch.setattr(engine.classifier, "classify", lambda text, **kw: calls.append(text) or real(text, **kw))
        for path in ("messages", "messages/stream"):
            r = client.post(f"/api/v1/conversations/{cid}/{path}", json={"text": "居" * 51})
            assert_error(r, 413, "message_too_long")
            assert "limit is 50" in r.json()["error"]["message"]
        assert calls == []
        assert client.get(f"/api/v1/conversations/{cid}").json()["messages"] == []
        assert client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "居住证怎么办理"}).status_code == 200
        assert calls  # the fake hook does see a message under the cap


def test_a_declared_body_above_the_byte_cap_is_refused_unread(stages, tmp_path: Path) -> None:
    with make_client(stages, tmp_path, server={"max_body_bytes": 2048}) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        r = client.post(f"/api/v1/conversations/{cid}/messages", content=b'{"text": "' + b"a" * 4096 + b'"}',
                        headers={"Content-Type": "application/json"})
        assert_error(r, 413, "payload_too_large")
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_security_headers_on_pages_api_and_errors(stages, tmp_path: Path) -> None:
    with make_client(stages, tmp_path) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        for path in (
            "/", "/console", "/login", "/ui/chat.js", f"/api/v1/conversations/{cid}", "/api/v1/nowhere", "/healthz",
            "/api/v1/helpdesk/queue",  # refused (401) by the route table: headers all the same
        ):
            r = client.get(path)
            csp = r.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
            assert "unsafe-inline" not in csp
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["Referrer-Policy"] == "no-referrer"
        assert client.get(f"/api/v1/conversations/{cid}").headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_style_or_handler() -> None:
    import re

    from ui import UI_DIR

    for page in UI_DIR.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page.name
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html), page.name
    for script in UI_DIR.glob("*.js"):
        # markup built by the scripts is under the same policy
        assert not re.search(r"\sstyle=|\son[a-z]+=\"", script.read_text(encoding="utf-8")), script.name


def test_api_docs_are_off_in_production_mode(stages, tmp_path: Path) -> None:
    with make_client(stages, tmp_path) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200
    with make_client(stages, tmp_path, server={"mode": "production"}) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path


def test_an_unexpected_error_is_a_generic_500(stages, tmp_path: Path, monkeypatch) -> None:
    with make_client(stages, tmp_path) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]

        def boom(*_a, **_k):
            raise RuntimeError("secret dsn postgresql://admin:hunter2@db")

        monkeypatch.setattr(client.services.assistant, "handle", boom)  # type: ignore[attr-defined]
        r = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "护照"})
        assert_error(r, 500, "internal_error")
        assert "hunter2" not in r.text and "RuntimeError" not in r.text and "Traceback" not in r.text
        assert r.headers["Content-Security-Policy"]


@pytest.mark.parametrize("database", ["memory", "sqlite"])
def test_a_retry_with_the_same_idempotency_key_returns_the_stored_answer(stages, tmp_path: Path, monkeypatch, database) -> None:
    url = MEMORY_URL if database == "memory" else ""
    with make_client(stages, tmp_path, database=DatabaseSettings(url=url)) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        engine = client.services.assistant.dialogue  # type: ignore[attr-defined]
        calls: list[str] = []
        real = engine.classifier.classify
        monkeypatch.setattr(engine.classifier, "classify", lambda text, **kw: calls.append(text) or real(text, **kw))
        post = lambda text, key: client.post(  # noqa: E731
            f"/api/v1/conversations/{cid}/messages", json={"text": text}, headers={"Idempotency-Key": key}
        )
        first = post("居住证怎么办理", "k-1")
        assert first.status_code == 200, first.text
        runs = len(calls)
        again = post("居住证怎么办理", "k-1")
        assert again.status_code == 200 and again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert len(calls) == runs  # no second model run
        assert len(client.get(f"/api/v1/conversations/{cid}").json()["messages"]) == 2  # no second turn
        assert_error(post("护照怎么办", "k-1"), 422, "idempotency_key_reused")
        assert post("护照怎么办", "k-2").json()["message_id"] > first.json()["message_id"]


@pytest.mark.parametrize("database", ["memory", "sqlite"])
def test_concurrent_posts_with_one_idempotency_key_store_one_turn(stages, tmp_path: Path, database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = MEMORY_URL if database == "memory" else ""
    with make_client(stages, tmp_path, database=DatabaseSettings(url=url)) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]

        def post(_: int):
            return client.post(
                f"/api/v1/conversations/{cid}/messages", json={"text": "居住证怎么办理"}, headers={"Idempotency-Key": "same"}
            )

        with ThreadPoolExecutor(max_workers=6) as pool:
            responses = list(pool.map(post, range(6)))
        assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
        assert len({r.json()["message_id"] for r in responses}) == 1
        assert len(client.get(f"/api/v1/conversations/{cid}").json()["messages"]) == 2


def test_a_failed_request_releases_its_idempotency_key(stages, tmp_path: Path, monkeypatch) -> None:
    with make_client(stages, tmp_path) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        assistant = client.services.assistant  # type: ignore[attr-defined]
        real = assistant.handle

        def boom(*_a, **_k):
            raise RuntimeError("model crashed")

        monkeypatch.setattr(assistant, "handle", boom)
        url, headers = f"/api/v1/conversations/{cid}/messages", {"Idempotency-Key": "k"}
        assert client.post(url, json={"text": "居住证"}, headers=headers).status_code == 500
        monkeypatch.setattr(assistant, "handle", real)
        r = client.post(url, json={"text": "居住证"}, headers=headers)
        assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers
