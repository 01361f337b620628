"""Compare two runs and check a run against expected scores.

``compare`` lists every headline metric of both runs with the difference, and
the cases that newly fail or newly pass (a case passes when all its turns do).
``check_expected`` is the regression gate: each metric in the expected file
carries a value and a tolerance, and falling below ``value - tolerance``
(rising above ``value + tolerance`` for latencies) is a regression.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.errors import InvalidInput
from eval.benchmark import Case
from eval.metrics import TurnOutcome

#: Metrics shown by ``compare`` and allowed in an expected-scores file, as paths into metrics.json.
HEADLINE: tuple[str, ...] = (
    "retrieval.hit@1",
    "retrieval.hit@3",
    "retrieval.hit@5",
    "retrieval.mrr@10",
    "intent.accuracy",
    "intent.macro_f1",
    "action.accuracy",
    "action.handoff.precision",
    "action.handoff.recall",
    "action.refuse.precision",
    "action.refuse.recall",
    "action.clarify.precision",
    "action.clarify.recall",
    "resolution_proxy",
    "answer.cited_acceptable",
    "answer.facts_recall",
    "answer.facts_first",
    "answer.aspect_precision",
    "answer.aspect_recall",
    "multi_turn.item_kept",
    "latency_ms.p50",
    "latency_ms.p95",
)


def lower_is_better(path: str) -> bool:
    """Latencies improve downwards; every other headline metric upwards."""
    return path.startswith("latency_ms.")


def metric_at(metrics: Mapping[str, Any], path: str) -> float | None:
    """The value at a dotted path such as ``action.refuse.recall``; None when absent.

    Paths split on dots except inside a key that itself holds one (``hit@1``
    has none, so plain splitting is enough for every HEADLINE path).
    """
    node: Any = metrics
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


@dataclass(frozen=True)
class MetricDelta:
    """One metric in both runs."""

    path: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        """``b - a``, or None when either side is missing."""
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class Comparison:
    """The differences between run A and run B."""

    metrics: tuple[MetricDelta, ...]
    newly_failing: tuple[str, ...]
    newly_passing: tuple[str, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    #: False when a side had no per-turn outcomes (a metrics JSON file only).
    has_cases: bool


def case_status(outcomes: Sequence[TurnOutcome]) -> dict[str, bool]:
    """Case id -> True when every turn of the case passed."""
    status: dict[str, bool] = {}
    for o in outcomes:
        status[o.case_id] = status.get(o.case_id, True) and o.passed
    return status


def compare_runs(
    metrics_a: Mapping[str, Any],
    metrics_b: Mapping[str, Any],
    outcomes_a: Sequence[TurnOutcome] = (),
    outcomes_b: Sequence[TurnOutcome] = (),
) -> Comparison:
    """Metric differences, and case changes when both sides carry outcomes."""
    deltas = tuple(MetricDelta(p, metric_at(metrics_a, p), metric_at(metrics_b, p)) for p in HEADLINE)
    has_cases = bool(outcomes_a) and bool(outcomes_b)
    a, b = case_status(outcomes_a), case_status(outcomes_b)
    common = [c for c in a if c in b]
    return Comparison(
        metrics=deltas,
        newly_failing=tuple(c for c in common if a[c] and not b[c]),
        newly_passing=tuple(c for c in common if not a[c] and b[c]),
        only_in_a=tuple(c for c in a if c not in b),
        only_in_b=tuple(c for c in b if c not in a),
        has_cases=has_cases,
    )


# --------------------------------------------------------------------------- expected scores


@dataclass(frozen=True)
class Regression:
    """A metric outside its expected band."""

    path: str
    expected: float
    tolerance: float
    got: float | None

    def __str__(self) -> str:
        got = "missing" if self.got is None else f"{self.got:.4f}"
        bound = "≤" if lower_is_better(self.path) else "≥"
        limit = self.expected + self.tolerance if lower_is_better(self.path) else self.expected - self.tolerance
        return f"{self.path}: {got}, expected {bound} {limit:.4f} ({self.expected:.4f} ± {self.tolerance:.4f})"


@dataclass(frozen=True)
class Expected:
    """An expected-scores file: which cases to run and the scores they must reach."""

    benchmark: str
    case_ids: tuple[str, ...]
    metrics: Mapping[str, tuple[float, float]]
    note: str = ""


def load_expected(path: Path) -> Expected:
    """Read ``eval/expected/*.json``; raises InvalidInput naming the bad key."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"expected-scores file {str(path)!r} not found; create it with 'xiaoshen eval gate --update'") from None
    except json.JSONDecodeError as e:
        raise InvalidInput(f"{str(path)!r} is not valid JSON ({e.msg}, line {e.lineno})") from e
    metrics: dict[str, tuple[float, float]] = {}
    for key, spec in (raw.get("metrics") or {}).items():
        if key not in HEADLINE:
            raise InvalidInput(f"{str(path)!r}: unknown metric {key!r}; use one of {', '.join(HEADLINE)}")
        try:
            metrics[key] = (float(spec["value"]), float(spec["tolerance"]))
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInput(f"{str(path)!r}: metric {key!r} needs numeric 'value' and 'tolerance'") from e
    cases = raw.get("cases")
    if not isinstance(cases, list) or not all(isinstance(c, str) for c in cases):
        raise InvalidInput(f"{str(path)!r}: 'cases' must be a list of case ids")
    return Expected(benchmark=str(raw.get("benchmark", "")), case_ids=tuple(cases), metrics=metrics, note=str(raw.get("note", "")))


def check_expected(metrics: Mapping[str, Any], expected: Expected) -> list[Regression]:
    """Every metric outside ``value ± tolerance`` in the bad direction."""
    out: list[Regression] = []
    for path, (value, tol) in expected.metrics.items():
        got = metric_at(metrics, path)
        if got is None:
            out.append(Regression(path, value, tol, None))
        elif lower_is_better(path) and got > value + tol:
            out.append(Regression(path, value, tol, got))
        elif not lower_is_better(path) and got < value - tol:
            out.append(Regression(path, value, tol, got))
    return out


def select_subset(cases: Sequence[Case], turns: int) -> list[Case]:
    """A fixed, spread-out subset of about ``turns`` turns.

    Cases are ordered by the sha256 of their id (stable whatever the file order
    or its growth) and taken until the budget is reached; a case that would
    overshoot is skipped so that the subset stays close to the budget.
    """
    ordered = sorted(cases, key=lambda c: hashlib.sha256(c.id.encode("utf-8")).hexdigest())
    chosen: list[Case] = []
    total = 0
    for case in ordered:
        if total + len(case.turns) <= turns:
            chosen.append(case)
            total += len(case.turns)
        if total >= turns:
            break
    return chosen
