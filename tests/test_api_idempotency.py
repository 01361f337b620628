"""Idempotency-Key on both message endpoints: one stored turn per key, whatever fails and whenever.

The key's response is committed in the turn's own transaction (see
tests/test_db_contract.py for the stores and tests/test_idempotency_crash.py
for ``kill -9`` of a real server); here the HTTP side: the streaming endpoint
takes the key too, a replay through either endpoint gets the same stored
turn, a stream that fails before ``done`` frees its key, and a request whose
stale claim was taken over by a retry that committed first stores nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.core.settings import DatabaseSettings
from assistant.db import MEMORY_URL
from tests.test_api_abuse import make_client, stages  # noqa: F401  (the module's fixture)


def events(body: str) -> list[tuple[str, str]]:
    """(event, data) of a server-sent event stream."""
    out = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], fields.get("data", "")))
    return out


@pytest.mark.parametrize("database", ["memory", "sqlite"])
def test_the_stream_takes_an_idempotency_key_and_replays_the_stored_turn(stages, tmp_path: Path, database) -> None:  # noqa: F811
    with make_client(stages, tmp_path, database=DatabaseSettings(url=MEMORY_URL if database == "memory" else "")) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        url = f"/api/v1/conversations/{cid}/messages"
        first = client.post(url + "/stream", json={"text": "居住证怎么办理"}, headers={"Idempotency-Key": "s-1"})
        assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
        sent = events(first.text)
        done = json.loads(sent[-1][1])
        assert sent[-1][0] == "done" and "".join(json.loads(d)["text"] for e, d in sent if e == "delta") == done["answer"]

        again = client.post(url + "/stream", json={"text": "居住证怎么办理"}, headers={"Idempotency-Key": "s-1"})
        assert again.headers["Idempotent-Replayed"] == "true"
        replayed = events(again.text)
        assert [e for e, _ in replayed] == ["delta", "done"]
        assert json.loads(replayed[0][1])["text"] == done["answer"] and json.loads(replayed[1][1]) == done

        # the other endpoint with the same key gets the same stored turn, and another text 422
        plain = client.post(url, json={"text": "居住证怎么办理"}, headers={"Idempotency-Key": "s-1"})
        assert plain.status_code == 200 and plain.json() == done
        reused = client.post(url + "/stream", json={"text": "护照"}, headers={"Idempotency-Key": "s-1"})
        assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
        assert len(client.get(f"/api/v1/conversations/{cid}").json()["messages"]) == 2


def test_a_stream_that_fails_before_done_frees_its_key(stages, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    with make_client(stages, tmp_path) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        engine = client.services.assistant.dialogue  # type: ignore[attr-defined]
        real = engine.turn_stream

        def breaks(*args, **kwargs):
            yield "开头"
            raise RuntimeError("the generator died mid-answer")

        monkeypatch.setattr(engine, "turn_stream", breaks)
        url, key = f"/api/v1/conversations/{cid}/messages/stream", {"Idempotency-Key": "k"}
        cut = client.post(url, json={"text": "居住证怎么办理"}, headers=key)  # the stream breaks off
        assert "done" not in [e for e, _ in events(cut.text)]
        assert client.get(f"/api/v1/conversations/{cid}").json()["messages"] == []
        monkeypatch.setattr(engine, "turn_stream", real)
        retry = client.post(url, json={"text": "居住证怎么办理"}, headers=key)
        assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers
        assert events(retry.text)[-1][0] == "done"
        assert len(client.get(f"/api/v1/conversations/{cid}").json()["messages"]) == 2


@pytest.mark.parametrize("database", ["memory", "sqlite"])
def test_a_request_whose_claim_was_taken_over_stores_nothing(stages, tmp_path: Path, monkeypatch, database) -> None:  # noqa: F811
    # The first request is slow past limits.idempotency_stale_s; a retry takes its claim over and
    # commits first.  The slow one, committing second, finds the key done: no second message.
    url_db = MEMORY_URL if database == "memory" else ""
    with make_client(stages, tmp_path, database=DatabaseSettings(url=url_db)) as client:
        cid = client.post("/api/v1/conversations", json={}).json()["id"]
        url, key = f"/api/v1/conversations/{cid}/messages", {"Idempotency-Key": "slow"}
        assistant = client.services.assistant  # type: ignore[attr-defined]
        real_record = assistant.store.record_turn
        retried: list[dict] = []

        def record_after_a_retry(*args, **kwargs):
            if not retried:  # while the first request "hangs", the key goes stale and a retry wins
                client.services.storage.idempotency.release(cid, "slow")  # type: ignore[attr-defined]
                monkeypatch.setattr(assistant.store, "record_turn", real_record)
                retried.append(client.post(url, json={"text": "居住证怎么办理"}, headers=key).json())
            return real_record(*args, **kwargs)

        monkeypatch.setattr(assistant.store, "record_turn", record_after_a_retry)
        slow = client.post(url, json={"text": "居住证怎么办理"}, headers=key)
        assert slow.status_code == 200 and slow.headers["Idempotent-Replayed"] == "true"
        assert slow.json() == retried[0]
        assert [m["role"] for m in client.get(f"/api/v1/conversations/{cid}").json()["messages"]] == ["user", "assistant"]
