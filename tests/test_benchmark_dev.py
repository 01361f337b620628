"""The development benchmark holds what issue 3 asks for, and loads without a problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.benchmark import load_benchmark
from eval.benchmarks.assemble import DEV, PARTS, assemble, coverage

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def catalog_ids() -> set[str]:
    from assistant.core.settings import PathsSettings
    from knowledge_base.loader import read_catalog

    return {e.id for e in read_catalog(PathsSettings().catalog)}


@pytest.fixture(scope="module")
def assembled(catalog_ids: set[str]):
    return assemble(sorted(PARTS.glob("*.jsonl")), catalog_ids=catalog_ids)


def test_parts_are_clean_and_dev_jsonl_is_up_to_date(assembled) -> None:
    assert assembled.problems == (), "\n".join(assembled.problems)
    from eval.benchmarks.assemble import HEADER

    expected = HEADER + "".join(line + "\n" for line in assembled.lines)
    up_to_date = DEV.read_text(encoding="utf-8") == expected
    assert up_to_date, "eval/benchmarks/dev.jsonl is stale: run python -m eval.benchmarks.assemble"


def test_dev_benchmark_loads_without_problems(catalog_ids: set[str]) -> None:
    bench = load_benchmark(DEV, known_items=catalog_ids)
    assert bench.problems == ()
    assert bench.turns >= 600


def test_counts_of_issue_3(assembled, catalog_ids: set[str]) -> None:
    c = coverage(assembled.cases, assembled.notes, catalog_ids)
    assert c["turns"] >= 600
    assert c["items_below_4_cases"] == [], f"catalog items asked in fewer than 4 cases: {c['items_below_4_cases']}"
    assert c["multi_turn_cases"] >= 40
    assert c["actions"].get("refuse", 0) >= 60
    assert c["actions"].get("handoff", 0) >= 30
    assert c["actions"].get("clarify", 0) >= 30
    assert set(c["actions"]) == {"answer", "clarify", "handoff", "refuse", "chitchat"}
    from assistant.core.types import INTENTS

    assert set(c["intents"]) == set(INTENTS), f"intents never expected: {set(INTENTS) - set(c['intents'])}"
    assert c["english_turns"] >= 20
    assert c["traditional_turns"] >= 10
    assert c["typo_cases"] >= 10


def test_coverage_counts_by_hand(tmp_path: Path) -> None:
    part = tmp_path / "p.jsonl"
    part.write_text(
        "\n".join(
            [
                '{"id": "a", "turns": [{"user": "居主證怎麼辦", "expect": {"items": ["x"], "action": "answer"}}], "note": "typo"}',
                '{"id": "b", "lang": "en", "turns": [{"user": "hi", "expect": {"intent": "greeting", "action": "chitchat"}}, '
                '{"user": "permit?", "expect": {"items": ["x", "y"], "action": "clarify"}}]}',
                '{"id": "a", "turns": [{"user": "dup"}]}',
                '{"id": "c", "turns": [{"user": "q", "expect": {"items": ["nope"]}}]}',
            ]
        ),
        encoding="utf-8",
    )
    result = assemble([part], catalog_ids={"x", "y"})
    assert [c.id for c in result.cases] == ["a", "b"]
    assert len(result.problems) == 2 and result.problems[0].startswith("p.jsonl:3: duplicate id 'a'")
    c = coverage(result.cases, result.notes, {"x", "y"})
    assert c["turns"] == 3 and c["multi_turn_cases"] == 1
    assert c["actions"] == {"answer": 1, "chitchat": 1, "clarify": 1}
    assert c["english_turns"] == 2 and c["traditional_turns"] == 1 and c["typo_cases"] == 1
    assert c["items_below_4_cases"] == ["x", "y"] or sorted(c["items_below_4_cases"]) == ["x", "y"]
    assert c["cases_per_item_min"] == 1
