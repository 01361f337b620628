"""The runner, the report directory, compare and the expected-scores gate, on fakes.

The dialogue here is a tiny deterministic stand-in (keyword rules over the
10-item test knowledge base) and the store is a test-only in-memory one, so
these tests pin the harness, not the models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from assistant.conversations import Assistant
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import (
    Action,
    Answer,
    DialogueState,
    Hit,
    IntentPrediction,
    Turn,
    TurnResult,
)
from assistant.db.memory import MemoryStorage, open_memory
from eval.benchmark import parse_lines
from eval.compare import Expected, check_expected, compare_runs, select_subset
from eval.report import PLOTS, read_run, write_report
from eval.runner import run_benchmark
from tests.fakes import tiny_items

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


class KeywordDialogue:
    """A deterministic stand-in for DialogueEngine: aliases rank items, a few words pick the action."""

    def __init__(self) -> None:
        self.items = {i.id: i for i in tiny_items()}

    def turn(self, text: str, state: DialogueState, history: Sequence[Turn]) -> TurnResult:
        if "崩溃" in text:
            raise RuntimeError("pipeline exploded")
        scores = {
            i.id: sum(len(a) for a in (i.name, *i.aliases) if a in text) for i in self.items.values()
        }
        ranked = sorted((s, i) for i, s in scores.items() if s)
        ranking = [i for _, i in sorted(ranked, key=lambda p: -p[0])]
        if not ranking and state.current_item:
            ranking = [state.current_item]
        hits = tuple(Hit(item_id=i, score=1.0 / (n + 1)) for n, i in enumerate(ranking))
        if "人工" in text:
            intent, action = "request_human", Action.HANDOFF
        elif "天气" in text:
            intent, action = "out_of_scope", Action.REFUSE
        elif "材料" in text:
            intent, action = "consult.materials", Action.ANSWER
        else:
            intent, action = "consult.overview", Action.ANSWER
        new_state = replace(state, current_item=ranking[0] if ranking else state.current_item,
                            handed_off=action is Action.HANDOFF)
        return TurnResult(
            answer=Answer(text="答复", action=action),
            intent=IntentPrediction(label=intent, confidence=0.9),
            hits=hits,
            state=new_state,
            timings_ms={"intent": 0.1},
            handoff_reason="customer_request" if action is Action.HANDOFF else "",
        )


def _assistant() -> tuple[Assistant, MemoryStorage]:
    # The in-memory backend of the storage contract (the same rules as SQLite and PostgreSQL).
    storage = open_memory(helpdesk=HelpdeskSettings(), clock=lambda: NOW)
    items = {i.id: i for i in tiny_items()}
    return Assistant(dialogue=KeywordDialogue(), store=storage.conversations, items=items), storage  # type: ignore[arg-type]


def _line(**case: object) -> str:
    return json.dumps(case, ensure_ascii=False)


BENCH = [
    _line(id="one", turns=[
        {"user": "我想办居住证", "expect": {"items": ["residence-permit-apply"], "intent": "consult.overview", "action": "answer"}},
        {"user": "要带什么材料", "expect": {"items": ["residence-permit-apply"], "intent": "consult.materials", "action": "answer"}},
    ]),
    _line(id="two", turns=[{"user": "社保卡丢了", "expect": {"items": ["social-security-card"], "intent": "consult.overview", "action": "answer"}}]),
    _line(id="miss", turns=[{"user": "怎么开证明", "expect": {"items": ["passport-apply"], "intent": "consult.overview", "action": "answer"}}]),
    _line(id="oos", turns=[{"user": "明天天气怎么样", "expect": {"intent": "out_of_scope", "action": "refuse"}}]),
    _line(id="human", turns=[{"user": "转人工", "expect": {"intent": "request_human", "action": "handoff"}}]),
    "{not json",
    _line(id="bad-intent", turns=[{"user": "x", "expect": {"intent": "weather"}}]),
    _line(id="crash", turns=[
        {"user": "系统崩溃吧", "expect": {"action": "answer"}},
        {"user": "后面这一句不会再发", "expect": {"action": "answer"}},
    ]),
]


def _run(lines: Sequence[str] = BENCH):
    assistant, store = _assistant()
    bench = parse_lines(lines, source="bench.jsonl", known_items={i.id for i in tiny_items()})
    domains = {i.id: i.domain for i in tiny_items()}
    return run_benchmark(assistant, bench, domains=domains, progress=False), store


def test_every_case_is_a_fresh_conversation_through_assistant_handle() -> None:
    result, store = _run()
    # one conversation per runnable case, each holding exactly its own turns
    conversations, tickets = store.reports.records(NOW, NOW + timedelta(seconds=1))
    assert len(conversations) == 6
    sizes = sorted(len(store.conversations.get(c.id).turns) for c in conversations)
    assert sizes == [0, 2, 2, 2, 2, 4]  # the crashing case stores nothing
    assert len(tickets) == 1  # the handoff went through the pipeline's ticket path
    assert [o.case_id for o in result.outcomes] == ["one", "one", "two", "miss", "oos", "human", "crash"]
    assert all(o.latency_ms > 0 for o in result.outcomes if not o.error)


def test_metrics_problems_and_errors() -> None:
    result, _ = _run()
    m = result.metrics
    assert m["cases"] == 6 and m["turns"] == 7
    # retrieval turns: one(2) + two + miss; the follow-up keeps the item through the state
    assert m["retrieval"]["turns"] == 4
    assert m["retrieval"]["hit@1"] == 0.75
    assert m["multi_turn"] == {"follow_up_turns": 1, "item_kept": 1.0}
    assert m["intent"]["accuracy"] == 1.0
    assert m["action"]["refuse"]["recall"] == 1.0 and m["action"]["handoff"]["precision"] == 1.0
    assert m["resolution_proxy"] == 0.75
    assert m["by_domain"]["居住证"] == {"turns": 2, "hit@1": 1.0}
    # format problems first (with line numbers), then the pipeline error
    assert result.errors[0].startswith("line 6: not valid JSON")
    assert result.errors[1].startswith("line 7 (case 'bad-intent')")
    assert "case 'crash' turn 1: RuntimeError: pipeline exploded" in result.errors[2]
    assert result.run_errors == 1 and m["errored_turns"] == 1
    assert m["errors"] == list(result.errors)


def test_report_directory_and_compare(tmp_path: Path) -> None:
    result, _ = _run()
    files = write_report(result, tmp_path / "a", settings_json={"generator": {"api_key": "**********"}})
    names = {p.name for p in files}
    assert {"metrics.json", "report.md", "failures.jsonl", "turns.jsonl", "settings.json", *PLOTS} <= names
    for plot in PLOTS:
        assert (tmp_path / "a" / plot).read_bytes()[:4] == b"\x89PNG"
    failures = [json.loads(line) for line in (tmp_path / "a" / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {f["case"] for f in failures} == {"miss", "crash"}
    miss = next(f for f in failures if f["case"] == "miss")
    assert miss["expected"]["items"] == ["passport-apply"] and miss["failed"] == ["items"]
    assert miss["got"]["action"] == "answer" and len(miss["got"]["top5"]) <= 5
    report = (tmp_path / "a" / "report.md").read_text(encoding="utf-8")
    assert "hit@1" in report and "miss" in report
    assert json.loads((tmp_path / "a" / "settings.json").read_text(encoding="utf-8"))["run"]["source"] == "bench.jsonl"

    # Run B: the "miss" case now passes, the social security case now fails.
    lines = [line.replace("怎么开证明", "怎么办护照").replace("社保卡丢了", "卡丢了") for line in BENCH]
    result_b, _ = _run(lines)
    write_report(result_b, tmp_path / "b", settings_json={})
    a, b = read_run(tmp_path / "a"), read_run(tmp_path / "b")
    cmp = compare_runs(a.metrics, b.metrics, a.outcomes, b.outcomes)
    assert cmp.newly_passing == ("miss",) and cmp.newly_failing == ("two",)
    assert cmp.has_cases
    hit1 = next(d for d in cmp.metrics if d.path == "retrieval.hit@1")
    assert hit1.a == 0.75 and hit1.b == 0.75 and hit1.delta == 0.0
    # a bare metrics file compares metrics only
    only = read_run(tmp_path / "a" / "metrics.json")
    assert not compare_runs(only.metrics, b.metrics, only.outcomes, b.outcomes).has_cases


def test_expected_scores_gate() -> None:
    result, _ = _run()
    spec = Expected(benchmark="b", case_ids=(), metrics={
        "retrieval.hit@1": (0.78, 0.05),  # 0.75 >= 0.73: fine
        "intent.accuracy": (1.0, 0.0),
        "latency_ms.p95": (1.0, 1e6),
    })
    assert check_expected(result.metrics, spec) == []
    strict = Expected(benchmark="b", case_ids=(), metrics={"retrieval.hit@1": (0.9, 0.05), "latency_ms.p95": (0.0, 0.0)})
    regressions = check_expected(result.metrics, strict)
    assert [r.path for r in regressions] == ["retrieval.hit@1", "latency_ms.p95"]
    assert "expected ≥ 0.8500" in str(regressions[0])


def test_subset_is_stable_and_within_budget() -> None:
    bench = parse_lines(BENCH, known_items={i.id for i in tiny_items()})
    first = select_subset(bench.cases, 4)
    again = select_subset(tuple(reversed(bench.cases)), 4)
    assert [c.id for c in first] == [c.id for c in again]
    assert sum(len(c.turns) for c in first) <= 4


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_goes_to_stderr(progress: bool, capsys: pytest.CaptureFixture[str]) -> None:
    assistant, _ = _assistant()
    bench = parse_lines(BENCH[:2])
    run_benchmark(assistant, bench, progress=progress)
    out, err = capsys.readouterr()
    assert out == ""
    assert ("eval" in err) is progress


def test_progress_is_reported_after_every_turn_up_to_the_total() -> None:
    assistant, _ = _assistant()
    bench = parse_lines(BENCH, source="bench.jsonl", known_items={i.id for i in tiny_items()})
    seen: list[tuple[int, int]] = []
    run_benchmark(assistant, bench, progress=False, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (bench.turns, bench.turns)  # the crashed case's skipped turn counts too
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
