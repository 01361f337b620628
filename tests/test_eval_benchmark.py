"""The benchmark loader: the format file exactly, every bad line reported and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.core.errors import InvalidInput
from eval.benchmark import case_to_json, load_benchmark, parse_lines

KNOWN = {"residence-permit-apply", "social-security-card", "hukou-newborn"}


def _line(**case: object) -> str:
    return json.dumps(case, ensure_ascii=False)


GOOD = _line(
    id="m01",
    lang="zh",
    turns=[
        {"user": "我想办居住证", "expect": {"items": ["residence-permit-apply"], "intent": "consult.overview", "action": "answer"}},
        {"user": "需要带什么材料？", "expect": {"items": ["residence-permit-apply"], "intent": "consult.materials", "action": "answer", "facts": ["身份证"]}},
    ],
    note="extra keys are allowed",
)


def test_the_example_of_the_format_file_loads() -> None:
    bench = parse_lines([GOOD], known_items=KNOWN)
    assert bench.problems == ()
    (case,) = bench.cases
    assert case.id == "m01" and case.lang == "zh" and case.line == 1
    assert [t.user for t in case.turns] == ["我想办居住证", "需要带什么材料？"]
    assert case.turns[1].expect.intent == "consult.materials"
    assert case.turns[1].expect.items == ("residence-permit-apply",)
    assert case.turns[1].expect.facts == ("身份证",)
    assert bench.turns == 2


def test_blank_and_comment_lines_are_skipped_silently() -> None:
    bench = parse_lines(["", "   ", "# a comment", "  # indented comment", GOOD], known_items=KNOWN)
    assert bench.problems == () and len(bench.cases) == 1
    assert bench.cases[0].line == 5


def test_defaults_missing_expect_and_lang() -> None:
    bench = parse_lines([_line(id="x", turns=[{"user": "你好"}])])
    (case,) = bench.cases
    assert case.lang == "zh"
    assert case.turns[0].expect.items == () and case.turns[0].expect.intent is None and case.turns[0].expect.action is None


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"id": "a", "turns": [', "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (_line(turns=[{"user": "hi"}]), "id"),
        (_line(id="a", turns=[]), "turns' is empty"),
        (_line(id="a", lang="fr", turns=[{"user": "hi"}]), "lang 'fr'"),
        (_line(id="a", turns=[{"user": "  "}]), "user is empty"),
        (_line(id="a", turns=[{"user": "hi", "expect": {"intent": "consult.weather"}}]), "'consult.weather' is not in the taxonomy"),
        (_line(id="a", turns=[{"user": "hi", "expect": {"action": "escalate"}}]), "'escalate' is unknown"),
        (_line(id="a", turns=[{"user": "hi", "expect": {"items": ["no-such-item"]}}]), "unknown item id(s) 'no-such-item'"),
        (_line(id="a", turns=[{"user": "hi", "expect": {"items": "residence-permit-apply"}}]), "items"),
        (_line(id="a", turns=[{"user": 3}]), "user"),
        (_line(id="a", turns=[{"user": "q", "expect": {"facts": "12345"}}]), "facts"),
    ],
)
def test_bad_lines_are_reported_with_their_number_and_skipped(line: str, fragment: str) -> None:
    bench = parse_lines(["# header", GOOD, line, _line(id="z", turns=[{"user": "你好"}])], known_items=KNOWN)
    assert [c.id for c in bench.cases] == ["m01", "z"]
    (problem,) = bench.problems
    assert problem.line == 3
    assert fragment in problem.reason
    assert str(problem).startswith("line 3")


def test_duplicate_ids_keep_the_first_and_report_the_second() -> None:
    bench = parse_lines([GOOD, GOOD])
    assert len(bench.cases) == 1
    assert bench.problems[0].line == 2 and "first used on line 1" in bench.problems[0].reason
    assert bench.problems[0].case_id == "m01"


def test_without_known_items_any_id_is_accepted() -> None:
    bench = parse_lines([_line(id="a", turns=[{"user": "q", "expect": {"items": ["faq-0001"]}}])])
    assert bench.cases[0].turns[0].expect.items == ("faq-0001",)


def test_a_file_with_three_kinds_of_problems_loads_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "bench.jsonl"
    path.write_text(
        "\n".join(
            [
                GOOD,
                "{broken",
                _line(id="b", turns=[{"user": "q", "expect": {"items": ["made-up-id"]}}]),
                _line(id="c", turns=[{"user": "q", "expect": {"intent": "smalltalk"}}]),
                _line(id="d", lang="en", turns=[{"user": "How do I get a residence permit?", "expect": {"items": ["residence-permit-apply"]}}]),
            ]
        ),
        encoding="utf-8",
    )
    bench = load_benchmark(path, known_items=KNOWN)
    assert [c.id for c in bench.cases] == ["m01", "d"]
    assert [p.line for p in bench.problems] == [2, 3, 4]
    assert bench.source == str(path)


def test_unreadable_files_raise_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        load_benchmark(tmp_path / "missing.jsonl")
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes("é".encode("latin-1"))
    with pytest.raises(InvalidInput, match="UTF-8"):
        load_benchmark(bad)


def test_round_trip_and_filters() -> None:
    other = _line(id="s1", turns=[{"user": "社保卡丢了", "expect": {"items": ["social-security-card"], "action": "answer"}}])
    bench = parse_lines([GOOD, other], known_items=KNOWN)
    again = parse_lines([json.dumps(case_to_json(c), ensure_ascii=False) for c in bench.cases], known_items=KNOWN)
    assert [c.turns for c in again.cases] == [c.turns for c in bench.cases]
    assert [c.id for c in bench.for_item("social-security-card").cases] == ["s1"]
    assert [c.id for c in bench.only(["m01"]).cases] == ["m01"]
