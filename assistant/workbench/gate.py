"""The publish gate: an item's benchmark cases, played on the published and the draft knowledge.

Which cases: every case of the gate benchmark (``workbench.gate_benchmark``)
with a turn expecting the item; every case whose messages contain a name or
alias the draft adds or removes (an alias that another item's questions use
steals them: those cases run too); and the missed questions attached to the
draft, each as a one-turn case expecting the item to be answered (for these
the answer itself counts: ranked first but asked about again is not fixed).

Each case is played by ``assistant.cases.play_cases`` (the runner ``eval``
uses) through an assistant on the live engine and one on the draft's engine,
each on a throw-away in-memory store.  A turn passes when its expected item is
found (``assistant.cases.item_found``: rank 1 for answers, top 5 otherwise).
The gate refuses a draft under which a benchmark turn that passes today fails
("newly failing"), or any turn raises; a supervisor may override with a reason.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cases import BenchTurn, Benchmark, Case, Expect, item_found, load_benchmark, play_cases
from assistant.core.pii import mask
from assistant.core.settings import Settings
from assistant.core.types import ServiceItem

if TYPE_CHECKING:
    from assistant.dialogue.engine import DialogueEngine


@dataclass(frozen=True)
class TurnVerdict:
    """One gate turn on both sides."""

    case_id: str
    turn: int
    user: str
    expect_items: tuple[str, ...]
    expect_action: str | None
    #: ``benchmark`` (the item's cases and cases naming its words) or ``missed`` (attached questions).
    source: str
    live_passed: bool
    draft_passed: bool
    live_top: tuple[str, ...]
    draft_top: tuple[str, ...]
    live_action: str
    draft_action: str
    draft_answer: str
    error: str = ""

    @property
    def change(self) -> str:
        """``newly_failing``, ``newly_passing``, ``passing``, ``failing`` or ``error``."""
        if self.error:
            return "error"
        if self.live_passed and not self.draft_passed:
            return "newly_failing"
        if self.draft_passed and not self.live_passed:
            return "newly_passing"
        return "passing" if self.draft_passed else "failing"


@dataclass(frozen=True)
class GateReport:
    """The gate's verdict for one draft text."""

    item_id: str
    draft_sha: str
    benchmark: str
    turns: tuple[TurnVerdict, ...]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """No benchmark turn newly failing and no error."""
        return not any(t.change in ("newly_failing", "error") for t in self.turns if t.source == "benchmark") and not any(
            t.error for t in self.turns
        )

    def to_json(self) -> dict[str, Any]:
        """The report as the API sends it."""
        return {
            "item_id": self.item_id,
            "draft_sha": self.draft_sha,
            "benchmark": self.benchmark,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "notes": list(self.notes),
            "counts": self.counts,
            "turns": [
                {
                    "case_id": t.case_id,
                    "turn": t.turn + 1,
                    "user": t.user,
                    "expect_items": list(t.expect_items),
                    "expect_action": t.expect_action,
                    "source": t.source,
                    "change": t.change,
                    "live_passed": t.live_passed,
                    "draft_passed": t.draft_passed,
                    "live_top": list(t.live_top),
                    "draft_top": list(t.draft_top),
                    "live_action": t.live_action,
                    "draft_action": t.draft_action,
                    "draft_answer": t.draft_answer,
                    "error": t.error,
                }
                for t in self.turns
            ],
        }


def gate_cases(
    benchmark: Benchmark, item: ServiceItem, published: ServiceItem | None, questions: Sequence[str]
) -> tuple[list[Case], list[Case]]:
    """(benchmark cases to run, one-turn cases of the attached questions)."""
    words = {item.name, *item.aliases}
    old = {published.name, *published.aliases} if published is not None else set()
    touched = {w.strip().lower() for w in words ^ old if len(w.strip()) >= 2}
    chosen = []
    for case in benchmark.cases:
        texts = [t.user.lower() for t in case.turns]
        if item.id in case.item_ids or any(w in text for w in touched for text in texts):
            chosen.append(case)
    missed = [
        Case(id=f"missed-{n + 1}", turns=(BenchTurn(user=q, expect=Expect(items=(item.id,), action="answer")),))
        for n, q in enumerate(dict.fromkeys(q.strip() for q in questions if q.strip()))
    ]
    return chosen, missed


def _assistant(settings: Settings, engine: DialogueEngine) -> Any:
    """An assistant on ``engine`` over a throw-away in-memory store (the gate stores nothing)."""
    from assistant.conversations import Assistant
    from assistant.db import MEMORY_URL, open_storage, utc_now
    from assistant.helpdesk import EscalationRules

    storage = open_storage(MEMORY_URL, helpdesk=settings.helpdesk, clock=utc_now)
    return Assistant(
        dialogue=engine,
        store=storage.conversations,
        items=engine.items,
        max_message_chars=settings.server.max_message_chars,
        escalation=EscalationRules(settings.helpdesk, clock=utc_now),
    )


def run_gate(
    settings: Settings,
    item: ServiceItem,
    published: ServiceItem | None,
    draft_sha: str,
    live: DialogueEngine,
    draft: DialogueEngine,
    *,
    questions: Sequence[str] = (),
    known_items: Collection[str],
    benchmark_path: Path | None = None,
) -> GateReport:
    """Play the gate's cases on ``live`` and ``draft`` and compare them turn by turn."""
    import time

    started = time.perf_counter()
    path = benchmark_path or settings.workbench.gate_benchmark
    notes = []
    if path.is_file():
        benchmark = load_benchmark(path, known_items=set(known_items) | {item.id})
    else:
        benchmark = Benchmark(str(path), ())
        notes.append(f"the gate benchmark {path} does not exist; only the attached questions were run")
    cases, missed = gate_cases(benchmark, item, published, questions)
    if not cases:
        notes.append(f"no case of {path.name} expects {item.id} or names its words: add cases to gate it")
    verdicts: list[TurnVerdict] = []
    for source, group in (("benchmark", cases), ("missed", missed)):
        live_turns = list(play_cases(_assistant(settings, live), group))
        draft_turns = list(play_cases(_assistant(settings, draft), group))
        by_key = {(p.case.id, p.index): p for p in live_turns}
        for d in draft_turns:
            lv = by_key.get((d.case.id, d.index))
            expect = d.turn.expect

            def judged(p: Any) -> tuple[bool, tuple[str, ...], str]:
                if p is None or p.exchange is None:
                    return False, (), ""
                r = p.exchange.result
                ranking = tuple(h.item_id for h in r.hits)
                action = r.answer.action.value
                found = item_found(ranking, expect.items, expect.action)
                # a missed question is fixed only when it is answered (not just ranked)
                return found and (source != "missed" or action == "answer"), ranking[:3], action

            lp, ltop, lact = judged(lv)
            dp, dtop, dact = judged(d)
            error = d.error or (lv.error if lv is not None else "")
            verdicts.append(
                TurnVerdict(
                    case_id=d.case.id,
                    turn=d.index,
                    user=mask(d.turn.user),
                    expect_items=expect.items,
                    expect_action=expect.action,
                    source=source,
                    live_passed=lp,
                    draft_passed=dp,
                    live_top=ltop,
                    draft_top=dtop,
                    live_action=lact,
                    draft_action=dact,
                    draft_answer=d.exchange.result.answer.text[:400] if d.exchange is not None else "",
                    error=error,
                )
            )
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.change] = counts.get(v.change, 0) + 1
    return GateReport(item.id, draft_sha, str(path), tuple(verdicts), tuple(notes), time.perf_counter() - started, counts)
