"""Benchmark cases: the evaluators' file format and the runner that plays cases.

- :mod:`~assistant.cases.format`: read and validate benchmark files
  (``shared/benchmark-format.md``); bad lines are reported, never fatal.
- :mod:`~assistant.cases.runner`: play cases through an ``Assistant`` the way
  the API does, and the gate's rule of a found item.

It stands below both ``eval`` (metrics, reports, the CLI) and the API (the
knowledge operators' publish gate in ``assistant.workbench``), which may not
import each other.
"""

from assistant.cases.format import BenchTurn, Benchmark, Case, Expect, LineProblem, load_benchmark, parse_lines
from assistant.cases.runner import PlayedTurn, item_found, play_cases

__all__ = [
    "BenchTurn",
    "Benchmark",
    "Case",
    "Expect",
    "LineProblem",
    "PlayedTurn",
    "item_found",
    "load_benchmark",
    "parse_lines",
    "play_cases",
]
