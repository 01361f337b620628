"""Benchmark files in the evaluators' format (``shared/benchmark-format.md``): read, validate, write.

One conversation per JSON line; blank lines and ``#`` lines are skipped.  A line
that is not valid JSON, lacks a field, names an unknown item id, intent or
action, or repeats an id is reported with its line number and skipped: a
benchmark always loads to the end, it never crashes a run.

Pydantic validates the file edge; the rest of the harness sees frozen
dataclasses (:class:`Case`, :class:`BenchTurn`, :class:`Expect`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.core.errors import InvalidInput
from assistant.core.types import ACTIONS, ASPECTS, INTENTS, LANGS

# --------------------------------------------------------------------------- the harness's view


@dataclass(frozen=True)
class Expect:
    """What a turn should produce; ``None`` means the file does not say."""

    items: tuple[str, ...] = ()
    intent: str | None = None
    action: str | None = None
    #: strings the answer text should contain (``expect.facts``: amounts, phones, office names).
    facts: tuple[str, ...] = ()
    #: the consult aspects the message asks (``expect.aspects``: fee, time_limit…); empty: not said.
    aspects: tuple[str, ...] = ()


@dataclass(frozen=True)
class BenchTurn:
    """One user message and its expectation."""

    user: str
    expect: Expect = field(default_factory=Expect)


@dataclass(frozen=True)
class Case:
    """One benchmark conversation: a fresh conversation whose turns run in order."""

    id: str
    turns: tuple[BenchTurn, ...]
    lang: str = "zh"
    #: 1-based line of the file the case came from (0 when built in code).
    line: int = 0
    #: free labels of the case (``two-part``, ``life-event``…): the report gives figures per tag.
    tags: tuple[str, ...] = ()

    @property
    def item_ids(self) -> frozenset[str]:
        """Every item id any turn of the case expects."""
        return frozenset(i for t in self.turns for i in t.expect.items)


@dataclass(frozen=True)
class LineProblem:
    """A line of a benchmark file that was skipped, and why."""

    line: int
    reason: str
    case_id: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" (case {self.case_id!r})" if self.case_id else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class Benchmark:
    """The usable cases of a benchmark file and every line that was skipped."""

    source: str
    cases: tuple[Case, ...]
    problems: tuple[LineProblem, ...] = ()

    @property
    def turns(self) -> int:
        """Number of user turns over all cases."""
        return sum(len(c.turns) for c in self.cases)

    def only(self, case_ids: Collection[str]) -> Benchmark:
        """The same benchmark restricted to ``case_ids`` (file order kept)."""
        wanted = set(case_ids)
        return Benchmark(self.source, tuple(c for c in self.cases if c.id in wanted), self.problems)

    def for_item(self, item_id: str) -> Benchmark:
        """Only the cases where some turn expects ``item_id``."""
        return Benchmark(self.source, tuple(c for c in self.cases if item_id in c.item_ids), self.problems)


# --------------------------------------------------------------------------- the file edge


class _ExpectIn(BaseModel):
    # Other keys (note, …) are allowed by the format and ignored; facts feed a metric.
    model_config = ConfigDict(extra="allow", strict=True)
    items: list[str] | None = None
    intent: str | None = None
    action: str | None = None
    facts: list[str] | None = None
    aspects: list[str] | None = None


class _TurnIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    user: str
    expect: _ExpectIn | None = None


class _CaseIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: str
    lang: str = "zh"
    turns: list[_TurnIn]
    tags: list[str] | None = None


def _validation_reason(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "line"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_case(raw: Any, *, line: int = 0, known_items: Collection[str] | None = None) -> Case:
    """Validate one decoded JSON value as a case.

    Raises InvalidInput naming the bad field and the fix.  ``known_items``,
    when given, is the set of ids ``expect.items`` may name (the catalog, or
    the ids of the corpus in use).
    """
    if not isinstance(raw, dict):
        raise InvalidInput(f"expected a JSON object per line, got {type(raw).__name__}")
    try:
        model = _CaseIn.model_validate(raw)
    except ValidationError as e:
        raise InvalidInput(_validation_reason(e)) from e
    if not model.id.strip():
        raise InvalidInput("'id' is empty; give every case a unique id")
    if model.lang not in LANGS:
        raise InvalidInput(f"lang {model.lang!r} is not one of {', '.join(LANGS)}")
    if not model.turns:
        raise InvalidInput("'turns' is empty; a case needs at least one turn")
    turns: list[BenchTurn] = []
    for n, t in enumerate(model.turns):
        if not t.user.strip():
            raise InvalidInput(f"turns.{n}.user is empty; write the user's message")
        e = t.expect or _ExpectIn()
        if e.intent is not None and e.intent not in INTENTS:
            raise InvalidInput(
                f"turns.{n}.expect.intent {e.intent!r} is not in the taxonomy; use one of {', '.join(INTENTS)}"
            )
        if e.action is not None and e.action not in ACTIONS:
            raise InvalidInput(
                f"turns.{n}.expect.action {e.action!r} is unknown; use one of {', '.join(ACTIONS)}"
            )
        items = tuple(dict.fromkeys(i.strip() for i in (e.items or ())))
        if known_items is not None:
            unknown = [i for i in items if i not in known_items]
            if unknown:
                raise InvalidInput(
                    f"turns.{n}.expect.items names unknown item id(s) {', '.join(map(repr, unknown))}; "
                    "use ids of the catalog (or of the --faq-corpus in use)"
                )
        facts = tuple(f.strip() for f in (e.facts or ()) if f.strip())
        aspects = tuple(dict.fromkeys(a.strip() for a in (e.aspects or ()) if a.strip()))
        bad_aspects = [a for a in aspects if a not in ASPECTS]
        if bad_aspects:
            raise InvalidInput(
                f"turns.{n}.expect.aspects has unknown aspect(s) {', '.join(map(repr, bad_aspects))}; "
                f"use some of {', '.join(ASPECTS)}"
            )
        turns.append(
            BenchTurn(
                user=t.user,
                expect=Expect(items=items, intent=e.intent, action=e.action, facts=facts, aspects=aspects),
            )
        )
    tags = tuple(dict.fromkeys(t.strip() for t in (model.tags or ()) if t.strip()))
    return Case(id=model.id, turns=tuple(turns), lang=model.lang, line=line, tags=tags)


def parse_lines(
    lines: Iterable[str], *, source: str = "<lines>", known_items: Collection[str] | None = None
) -> Benchmark:
    """Parse benchmark lines; every bad line becomes a LineProblem and is skipped."""
    cases: list[Case] = []
    problems: list[LineProblem] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            raw = json.loads(stripped)
        except json.JSONDecodeError as e:
            problems.append(LineProblem(number, f"not valid JSON ({e.msg} at column {e.colno})"))
            continue
        case_id = raw.get("id", "") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else ""
        try:
            case = parse_case(raw, line=number, known_items=known_items)
        except InvalidInput as e:
            problems.append(LineProblem(number, str(e), case_id))
            continue
        if case.id in seen:
            problems.append(
                LineProblem(number, f"duplicate id, first used on line {seen[case.id]}; ids must be unique", case.id)
            )
            continue
        seen[case.id] = number
        cases.append(case)
    return Benchmark(source=source, cases=tuple(cases), problems=tuple(problems))


def load_benchmark(path: Path, *, known_items: Collection[str] | None = None) -> Benchmark:
    """Load a benchmark file; raises InvalidInput only when the file cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"benchmark file {str(path)!r} not found; pass a JSONL file in the benchmark format") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read benchmark file {str(path)!r} ({e}); it must be UTF-8 JSON Lines") from e
    return parse_lines(text.splitlines(), source=str(path), known_items=known_items)


def case_to_json(case: Case) -> dict[str, Any]:
    """A case back in the file format (for writing parts and subsets)."""
    turns = []
    for t in case.turns:
        expect: dict[str, Any] = {"items": list(t.expect.items)}
        if t.expect.intent is not None:
            expect["intent"] = t.expect.intent
        if t.expect.action is not None:
            expect["action"] = t.expect.action
        if t.expect.facts:
            expect["facts"] = list(t.expect.facts)
        if t.expect.aspects:
            expect["aspects"] = list(t.expect.aspects)
        turns.append({"user": t.user, "expect": expect})
    return {"id": case.id, "lang": case.lang, "turns": turns}
