"""Run a benchmark through the assistant exactly as the API does.

Every case is a fresh conversation (``Assistant.start``) and every turn goes
through ``Assistant.handle`` (played by ``assistant.cases.play_cases``), the single path the API, the web chat and the
CLI use, with its real store and queue; so the figures are what citizens
get.  Latency is wall-clock time around ``handle``, per turn.

A turn that raises is recorded in the run's errors with the case and turn,
the rest of that case is skipped (its later turns depend on the failed one),
and the run goes on.  Errored turns are left out of every metric and the CLI
exits non-zero when there are any, so they can never pass as low scores.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.benchmark import Benchmark
from eval.metrics import TurnOutcome, summarize

if TYPE_CHECKING:
    from assistant.conversations import Assistant
    from assistant.core.settings import Settings
    from assistant.core.types import Embedder, ServiceItem
    from assistant.wiring import Stages


@dataclass(frozen=True)
class RunResult:
    """Outcomes of one run, its metrics and everything that went wrong."""

    source: str
    outcomes: tuple[TurnOutcome, ...]
    metrics: dict[str, Any]
    #: skipped benchmark lines, then pipeline errors, as one-line messages.
    errors: tuple[str, ...] = ()
    started_at: str = ""
    seconds: float = 0.0
    #: free-form facts about the run (knowledge base, index, corpus…).
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def run_errors(self) -> int:
        """Turns the pipeline failed on (not benchmark format problems)."""
        return sum(1 for o in self.outcomes if o.error)


def run_benchmark(
    assistant: Assistant,
    benchmark: Benchmark,
    *,
    domains: Mapping[str, str] | None = None,
    progress: bool = True,
    info: Mapping[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Send every case of ``benchmark`` through ``assistant`` and score the turns.

    ``domains`` maps item ids to the domain shown in per-domain breakdowns.
    ``on_progress(done, total)`` is called after every turn (the workbench's progress bar).
    The cases are played by :func:`assistant.cases.play_cases`, the runner the
    knowledge operators' publish gate uses too.
    """
    from tqdm import tqdm

    from assistant.cases import play_cases

    domains = domains or {}
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    outcomes: list[TurnOutcome] = []
    errors = [str(p) for p in benchmark.problems]
    bar = tqdm(total=benchmark.turns, desc="eval", unit="turn", disable=not progress, dynamic_ncols=True)
    done = 0
    try:
        for played in play_cases(assistant, benchmark.cases):
            case, index, expect = played.case, played.index, played.turn.expect
            base = dict(
                case_id=case.id,
                turn=index,
                user=played.turn.user,
                lang=case.lang,
                expect_items=expect.items,
                expect_intent=expect.intent,
                expect_action=expect.action,
                expect_facts=expect.facts,
                expect_aspects=expect.aspects,
                domain=domains.get(expect.items[0], "") if expect.items else "",
                case_turns=len(case.turns),
                tags=case.tags,
            )
            if played.exchange is None:  # recorded, listed and excluded from metrics; see module doc
                errors.append(f"case {case.id!r} turn {index + 1}: {played.error}")
                outcomes.append(TurnOutcome(**base, error=played.error))
            else:
                result = played.exchange.result
                outcomes.append(
                    TurnOutcome(
                        **base,
                        ranking=tuple(h.item_id for h in result.hits),
                        scores=tuple(float(h.score) for h in result.hits),
                        intent=result.intent.label,
                        intent_confidence=float(result.intent.confidence),
                        action=result.answer.action.value,
                        handoff_reason=result.handoff_reason,
                        aspects=result.aspects.aspects,
                        yes_no=result.aspects.yes_no,
                        answer=result.answer.text,
                        citations=tuple(dict.fromkeys(c.item_id for c in result.answer.citations)),
                        latency_ms=played.latency_ms,
                        timings_ms=dict(result.timings_ms),
                    )
                )
            step = 1 + played.skipped
            bar.update(step)
            done += step
            if on_progress is not None:
                on_progress(done, benchmark.turns)
    finally:
        bar.close()
    metrics = summarize(outcomes, cases=len(benchmark.cases), errors=errors)
    return RunResult(
        source=benchmark.source,
        outcomes=tuple(outcomes),
        metrics=metrics,
        errors=tuple(errors),
        started_at=started_at,
        seconds=time.perf_counter() - started,
        info=dict(info or {}),
    )


# --------------------------------------------------------------------------- building what a run needs


def file_hash(path: Path) -> str:
    """First 16 hex digits of the sha256 of a file: the cache key of a corpus index."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def catalog_domains(settings: Settings) -> dict[str, str]:
    """Catalog id -> domain, for per-domain breakdowns and id checks."""
    from knowledge_base.loader import read_catalog

    return {entry.id: entry.domain for entry in read_catalog(settings.paths.catalog)}


def corpus_stages(
    settings: Settings, corpus: Path, *, progress: bool = True, embedder: Embedder | None = None
) -> tuple[Stages, dict[str, str], dict[str, Any]]:
    """Stages over a knowledge base built from ``corpus`` alone, cached by its content.

    ``embedder`` replaces the configured one (tests pass a fake).
    Returns the stages, id -> department (the corpus's "domain") and run info.
    The index is named after the corpus's content hash, so a second run with the
    same file loads it instead of embedding again; an edited file gets a new index.
    """
    from assistant.core.errors import InvalidInput
    from assistant.wiring import build_stages
    from retrieval.external_corpora import corpus_items

    if not corpus.is_file():
        raise InvalidInput(f"corpus file {str(corpus)!r} not found; pass a JSONL corpus (id, answer, question…)")
    digest = file_hash(corpus)
    items: Sequence[ServiceItem] = corpus_items(corpus)
    index_name = f"corpus-{digest}"
    index_dir = settings.paths.index_dir / index_name
    reused = index_dir.exists()
    t0 = time.perf_counter()
    stages = build_stages(settings, items=items, embedder=embedder, index_name=index_name, progress=progress)
    info = {
        "knowledge_base": f"corpus {corpus}",
        "corpus_sha256_16": digest,
        "corpus_items": len(items),
        "index": str(index_dir),
        "index_existed": reused,
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    return stages, {i.id: (i.department or "-") for i in items}, info


def kb_stages(
    settings: Settings,
    *,
    extra_items: Sequence[ServiceItem] = (),
    index_name: str = "kb",
    progress: bool = True,
    embedder: Embedder | None = None,
) -> tuple[Stages, dict[str, Any]]:
    """Stages over the live knowledge base, plus ``extra_items`` (a draft under review)."""
    from assistant.wiring import build_stages, load_knowledge

    items = list(load_knowledge(settings))
    if extra_items:
        replaced = {i.id for i in extra_items}
        items = [i for i in items if i.id not in replaced] + list(extra_items)
    t0 = time.perf_counter()
    stages = build_stages(settings, items=items, embedder=embedder, index_name=index_name, progress=progress)
    info = {
        "knowledge_base": str(settings.paths.kb_dir),
        "items": len(items),
        "index": str(settings.paths.index_dir / index_name),
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    return stages, info


def eval_assistant(settings: Settings, stages: Stages, workdir: Path) -> Assistant:
    """The assistant the API would build, over a throw-away SQLite database in ``workdir``.

    The real store and queue are used (not an in-memory stand-in) so that the
    dialogue state round-trips through the same persistence as in production.
    """
    from assistant.db import open_database
    from assistant.wiring import build_assistant

    workdir.mkdir(parents=True, exist_ok=True)
    database = open_database(f"sqlite:///{workdir / 'eval.db'}", helpdesk=settings.helpdesk)
    return build_assistant(settings, store=database.conversations, stages=stages)
