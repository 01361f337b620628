"""Benchmark files in the evaluators' format: kept here under its old name.

The format itself lives in :mod:`assistant.cases.format`, one layer below
``eval`` and the API, because the knowledge operators' publish gate (the
workbench, served by the API) reads the same files and plays the same cases
(``assistant.cases.runner``); ``eval`` builds its metrics and reports on top.
"""

from assistant.cases.format import (
    BenchTurn,
    Benchmark,
    Case,
    Expect,
    LineProblem,
    case_to_json,
    load_benchmark,
    parse_case,
    parse_lines,
)

__all__ = [
    "BenchTurn",
    "Benchmark",
    "Case",
    "Expect",
    "LineProblem",
    "case_to_json",
    "load_benchmark",
    "parse_case",
    "parse_lines",
]
