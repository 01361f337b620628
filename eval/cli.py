"""``xiaoshen eval``: run benchmarks, compare runs, gate an item, check expected scores.

Heavy imports (models, matplotlib) happen inside the commands.  Progress bars
and notes go to standard error, so ``--json -`` leaves standard output to the
JSON object alone.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from assistant.cli_options import ConfigOption

if TYPE_CHECKING:
    from eval.benchmark import Benchmark
    from eval.runner import RunResult

app = typer.Typer(help="Evaluate Xiao Shen on benchmark sets: metrics, reports, regression gates.", no_args_is_help=True)

#: The development benchmark assembled from eval/benchmarks/parts.
DEV_BENCHMARK = Path(__file__).resolve().parent / "benchmarks" / "dev.jsonl"
#: Expected scores of the development benchmark's CI subset.
DEV_EXPECTED = Path(__file__).resolve().parent / "expected" / "dev.json"

ProgressOption = Annotated[bool, typer.Option("--progress/--no-progress", help="show progress bars on stderr")]


def _note(text: str) -> None:
    typer.echo(text, err=True)


def _prepare(
    settings: Any, bench: Path, corpus: Path | None, *, progress: bool, index_name: str = "kb"
) -> tuple[Any, "Benchmark", dict[str, str], dict[str, Any]]:
    """Stages, the benchmark checked against the right ids, domains and run info."""
    from eval.benchmark import load_benchmark
    from eval.runner import catalog_domains, corpus_stages, kb_stages

    if corpus is not None:
        stages, domains, info = corpus_stages(settings, corpus, progress=progress)
        known = set(domains)
    else:
        domains = catalog_domains(settings)
        known = set(domains)
        stages, info = kb_stages(settings, progress=progress, index_name=index_name)
    benchmark = load_benchmark(bench, known_items=known)
    stages, info = _out_of_fold_intents(settings, stages, bench, info)
    return stages, benchmark, domains, {**info, "commit": _commit()}


def _out_of_fold_intents(settings: Any, stages: Any, bench: Path, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """On the benchmark the intent model was trained on, classify its turns out of fold
    (:func:`eval.dialogue_replay.with_out_of_fold`); other benchmarks run the shipped model."""
    from dataclasses import replace

    from eval.dialogue_replay import with_out_of_fold

    classifier, n = with_out_of_fold(stages.classifier, settings.intents, bench)
    if not n:
        return stages, info
    _note(f"the intent model was trained on {bench.name}: its {n} labelled texts are classified out of fold")
    return replace(stages, classifier=classifier), {**info, "intent_out_of_fold_texts": n}


def _commit() -> str:
    """The git commit the run used (with ``+dirty`` for local changes), or '' outside git."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    if head.returncode != 0:
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _execute(
    settings: Any,
    stages: Any,
    benchmark: "Benchmark",
    domains: dict[str, str],
    info: dict[str, Any],
    *,
    progress: bool,
    progress_file: Path | None = None,
) -> "RunResult":
    from eval.runner import eval_assistant, run_benchmark

    on_progress = _progress_writer(progress_file) if progress_file is not None else None
    with tempfile.TemporaryDirectory(prefix="xiaoshen-eval-") as workdir:
        assistant = eval_assistant(settings, stages, Path(workdir))
        return run_benchmark(
            assistant, benchmark, domains=domains, progress=progress, info=info, on_progress=on_progress
        )


def _progress_writer(path: Path) -> Any:
    """``on_progress`` writing ``{"done", "total"}`` to ``path`` (replaced atomically; the
    workbench reads it for its progress bar), at most every 0.5 s and at the end."""
    import os
    import time

    last = [0.0]

    def write(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.5:
            return
        last[0] = now
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"done": done, "total": total}), encoding="utf-8")
        os.replace(tmp, path)

    return write


def _emit(result: "RunResult", settings: Any, *, json_out: str | None, report: Path | None) -> None:
    from eval.report import markdown_report, write_report

    if json_out == "-":
        typer.echo(json.dumps(result.metrics, ensure_ascii=False, indent=2))
    elif json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result.metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _note(f"metrics written to {json_out}")
    if report is not None:
        files = write_report(result, report, settings_json=settings.model_dump(mode="json"))
        _note(f"report written to {report} ({len(files)} files)")
    if json_out != "-":
        # The headline table, for people; machines read --json.
        summary = markdown_report(result).split("\n## Per domain")[0]
        typer.echo(summary)
    for error in result.errors:
        _note(f"problem: {error}")


@app.command()
def run(
    bench: Annotated[Path, typer.Argument(help="benchmark JSONL (shared/benchmark-format.md)")],
    faq_corpus: Annotated[
        Optional[Path], typer.Option("--faq-corpus", help="evaluate against a knowledge base built from this corpus alone")
    ] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="write the metrics object to PATH, or '-' for stdout")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="write metrics, report.md, plots, failures to DIR")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="only the first N cases")] = None,
    progress_file: Annotated[
        Optional[Path], typer.Option("--progress-file", help="keep {done, total} turns in this JSON file while running")
    ] = None,
    index_name: Annotated[
        str, typer.Option("--index-name", help="retrieval index folder under the data dir's index/ (default: the served one)")
    ] = "kb",
    config: ConfigOption = None,
    progress: ProgressOption = True,
) -> None:
    """Run every case of BENCH as a fresh conversation through the assistant and score it.

    Malformed lines, unknown item ids and unknown labels are listed and skipped.
    Exits 1 when the pipeline raised on some turn (listed under errors).
    """
    from assistant.cli_options import settings_from

    settings = settings_from(config)
    stages, benchmark, domains, info = _prepare(settings, bench, faq_corpus, progress=progress, index_name=index_name)
    if limit is not None:
        benchmark = benchmark.only([c.id for c in benchmark.cases[:limit]])
    result = _execute(settings, stages, benchmark, domains, info, progress=progress, progress_file=progress_file)
    _emit(result, settings, json_out=json_out, report=report)
    if result.run_errors:
        raise typer.Exit(1)


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="report directory (or metrics JSON) of the baseline run")],
    run_b: Annotated[Path, typer.Argument(help="report directory (or metrics JSON) of the new run")],
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
) -> None:
    """Metric differences between two runs, and the cases that newly fail or newly pass."""
    from eval.compare import compare_runs, lower_is_better
    from eval.report import read_run

    a, b = read_run(run_a), read_run(run_b)
    cmp = compare_runs(a.metrics, b.metrics, a.outcomes, b.outcomes)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "metrics": {d.path: {"a": d.a, "b": d.b, "delta": d.delta} for d in cmp.metrics},
                    "newly_failing": list(cmp.newly_failing),
                    "newly_passing": list(cmp.newly_passing),
                    "only_in_a": list(cmp.only_in_a),
                    "only_in_b": list(cmp.only_in_b),
                    "has_cases": cmp.has_cases,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo(f"{'metric':28} {'A':>9} {'B':>9} {'B-A':>9}")
    for d in cmp.metrics:
        fa = "–" if d.a is None else f"{d.a:.4f}"
        fb = "–" if d.b is None else f"{d.b:.4f}"
        if d.delta is None:
            fd, mark = "–", ""
        else:
            fd = f"{d.delta:+.4f}"
            better = d.delta < 0 if lower_is_better(d.path) else d.delta > 0
            mark = "" if abs(d.delta) < 1e-9 else ("  better" if better else "  worse")
        typer.echo(f"{d.path:28} {fa:>9} {fb:>9} {fd:>9}{mark}")
    if not cmp.has_cases:
        typer.echo("\n(case changes need report directories with turns.jsonl on both sides)")
        return
    typer.echo(f"\nnewly failing ({len(cmp.newly_failing)}): {', '.join(cmp.newly_failing) or '-'}")
    typer.echo(f"newly passing ({len(cmp.newly_passing)}): {', '.join(cmp.newly_passing) or '-'}")
    if cmp.only_in_a or cmp.only_in_b:
        typer.echo(f"only in A: {len(cmp.only_in_a)}, only in B: {len(cmp.only_in_b)}")


@app.command()
def item(
    item_id: Annotated[str, typer.Argument(help="catalog id of the item to check, e.g. residence-permit-apply")],
    bench: Annotated[Path, typer.Option("--bench", help="benchmark to take the item's cases from")] = DEV_BENCHMARK,
    min_pass: Annotated[
        float, typer.Option("--min-pass", min=0.0, max=1.0, help="share of the item's turns whose expected item must be found")
    ] = 0.8,
    report: Annotated[Optional[Path], typer.Option("--report", help="write the full report to DIR")] = None,
    config: ConfigOption = None,
    progress: ProgressOption = True,
) -> None:
    """Run only the cases of one item: the knowledge operator's gate before publishing.

    The item's file is evaluated as it is now, even as a draft, next to the live
    knowledge base (in a separate index, so the served index is untouched).
    Exits 1 when the expected item is found (rank 1 for answers, top 5 for
    clarifications) in fewer than --min-pass of the turns; intent and action
    misses are listed as notes, since an item edit does not change them.
    """
    from assistant.cli_options import settings_from
    from assistant.core.errors import InvalidInput
    from eval.benchmark import load_benchmark
    from eval.runner import catalog_domains, kb_stages
    from knowledge_base.loader import parse_item

    settings = settings_from(config)
    domains = catalog_domains(settings)
    if item_id not in domains:
        raise InvalidInput(f"{item_id!r} is not a catalog id; see {settings.paths.catalog}")
    path = settings.paths.kb_dir / f"{item_id}.yaml"
    if not path.is_file():
        raise InvalidInput(f"no item file {str(path)!r}; write the item before gating it")
    draft, problems = parse_item(path)
    if draft is None or problems:
        raise InvalidInput(f"{path.name} is invalid: " + "; ".join(map(str, problems)) + "; run 'xiaoshen kb validate'")
    benchmark = load_benchmark(bench, known_items=set(domains)).for_item(item_id)
    if not benchmark.cases:
        raise InvalidInput(f"{bench} has no case expecting {item_id!r}; add cases before publishing the item")
    # Publish the draft in memory only, so retrieval sees it exactly as it would after publishing.
    from dataclasses import replace

    candidate = replace(draft, status="published", effective_from=None, effective_to=None)
    stages, info = kb_stages(settings, extra_items=[candidate], index_name="eval-item", progress=progress)
    info = {**info, "gated_item": item_id, "item_status_in_file": draft.status, "commit": _commit()}
    result = _execute(settings, stages, benchmark, domains, info, progress=progress)
    _emit(result, settings, json_out=None, report=report)
    # The gate judges what an item edit changes: whether the item's questions find it
    # (rank 1 for answers, top 5 for clarifications).  Intent and action misses are
    # listed too, but they belong to the dialogue, not to the item, and do not block.
    scored = [o for o in result.outcomes if not o.error and o.expect_items]
    found = [o for o in scored if "items" not in o.failures]
    rate = len(found) / len(scored) if scored else 0.0
    for o in result.outcomes:
        if not o.passed:
            kind = "FAIL" if ("items" in o.failures or o.error) else "note"
            typer.echo(f"{kind} {o.case_id} turn {o.turn + 1}: {o.user} -> {','.join(o.failures)} "
                       f"(top {','.join(o.ranking[:3]) or '-'}, {o.intent}, {o.action})")
    verdict = "PASS" if scored and rate >= min_pass and not result.run_errors else "FAIL"
    typer.echo(f"{verdict}: {item_id}: its item is found in {len(found)} of {len(scored)} turns "
               f"({rate:.0%}, need {min_pass:.0%})")
    if verdict == "FAIL":
        raise typer.Exit(1)


@app.command()
def gate(
    expected: Annotated[Path, typer.Option("--expected", help="expected-scores file")] = DEV_EXPECTED,
    bench: Annotated[Path, typer.Option("--bench", help="benchmark the expected cases come from")] = DEV_BENCHMARK,
    update: Annotated[bool, typer.Option("--update", help="re-select the subset and record the current scores")] = False,
    turns: Annotated[int, typer.Option("--turns", min=1, help="subset size in turns (with --update)")] = 80,
    report: Annotated[Optional[Path], typer.Option("--report", help="write the full report to DIR")] = None,
    config: ConfigOption = None,
    progress: ProgressOption = True,
) -> None:
    """Run the fixed CI subset and fail on a regression beyond the expected tolerances."""
    from assistant.cli_options import settings_from
    from eval.compare import check_expected, load_expected

    settings = settings_from(config)
    if update:
        _update_expected(settings, expected, bench, turns=turns, progress=progress, report=report)
        return
    spec = load_expected(expected)
    stages, benchmark, domains, info = _prepare(settings, bench, None, progress=progress)
    missing = set(spec.case_ids) - {c.id for c in benchmark.cases}
    if missing:
        _note(f"warning: {len(missing)} expected case(s) are not in {bench}: {', '.join(sorted(missing)[:10])}")
    result = _execute(settings, stages, benchmark.only(spec.case_ids), domains, info, progress=progress)
    _emit(result, settings, json_out=None, report=report)
    regressions = check_expected(result.metrics, spec)
    for r in regressions:
        typer.echo(f"REGRESSION {r}")
    if regressions or result.run_errors:
        raise typer.Exit(1)
    typer.echo(f"OK: {len(spec.metrics)} metrics within tolerance on {result.metrics['turns']} turns")


#: Tolerances recorded by ``gate --update``: wide enough for run-to-run noise
#: on ~80 turns (one turn is 0.0125), tight enough to catch a real regression.
_TOLERANCES = {
    "retrieval.hit@1": 0.04,
    "retrieval.hit@5": 0.03,
    "retrieval.mrr@10": 0.04,
    "intent.accuracy": 0.04,
    "intent.macro_f1": 0.06,
    "action.accuracy": 0.04,
    "resolution_proxy": 0.05,
    "answer.cited_acceptable": 0.05,
    "multi_turn.item_kept": 0.10,
}


def _update_expected(settings: Any, expected: Path, bench: Path, *, turns: int, progress: bool, report: Path | None) -> None:
    from eval.compare import metric_at, select_subset

    stages, benchmark, domains, info = _prepare(settings, bench, None, progress=progress)
    subset = select_subset(benchmark.cases, turns)
    result = _execute(settings, stages, benchmark.only([c.id for c in subset]), domains, info, progress=progress)
    if result.run_errors:
        for e in result.errors:
            _note(f"problem: {e}")
        raise typer.Exit(1)
    metrics = {}
    for path, tol in _TOLERANCES.items():
        value = metric_at(result.metrics, path)
        if value is not None:
            metrics[path] = {"value": round(value, 4), "tolerance": tol}
    p95 = metric_at(result.metrics, "latency_ms.p95")
    if p95 is not None:
        # CI machines differ in speed: the latency gate only catches an order-of-magnitude slowdown
        # (a floor of 2 s: a turn of the embedded pipeline takes ~0.1 s on two quiet cores).
        metrics["latency_ms.p95"] = {"value": round(p95, 1), "tolerance": round(max(4 * p95, 2000.0), 1)}
    doc = {
        "benchmark": str(bench.relative_to(Path.cwd())) if bench.is_relative_to(Path.cwd()) else str(bench),
        "note": "written by 'xiaoshen eval gate --update'; the CI test runs these cases with the real models",
        "turns": result.metrics["turns"],
        "cases": [c.id for c in subset],
        "metrics": metrics,
    }
    expected.parent.mkdir(parents=True, exist_ok=True)
    expected.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _emit(result, settings, json_out=None, report=report)
    typer.echo(f"expected scores written to {expected}")


@app.command("corpus-bench")
def corpus_bench(
    corpus: Annotated[Path, typer.Argument(help="question-answer corpus JSONL (id, answer, question…)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="benchmark JSONL to write")],
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="only the first N questions")] = None,
) -> None:
    """Turn a corpus's questions into a benchmark whose expected item is each question's own entry.

    Use with ``eval run OUT --faq-corpus CORPUS``.  Entries without a question are skipped.
    """
    from eval.corpus_benchmarks import corpus_benchmark_lines

    _write_bench(out, *corpus_benchmark_lines(corpus, limit=limit))


@app.command("refusal-bench")
def refusal_bench(
    prompts: Annotated[Path, typer.Argument(help="CSV of prompts to refuse (JailBench: query or question_zh column)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="benchmark JSONL to write")],
    every: Annotated[int, typer.Option("--every", min=1, help="keep one row in N")] = 1,
    prefix: Annotated[str, typer.Option("--prefix", help="case id prefix")] = "refuse",
) -> None:
    """Turn prompts that must be refused (jailbreaks, harmful questions) into a benchmark.

    Every case expects ``out_of_scope`` and ``refuse``; run it with ``eval run OUT``
    and read the refusal recall (and which prompts were answered).
    """
    from eval.corpus_benchmarks import refusal_benchmark_lines

    _write_bench(out, *refusal_benchmark_lines(prompts, every=every, prefix=prefix))


def _write_bench(out: Path, lines: list[str], problems: list[str]) -> None:
    """Write benchmark lines to ``out`` and list the source rows that were skipped."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    for p in problems:
        _note(f"problem: {p}")
    typer.echo(f"{len(lines)} cases written to {out}")


if __name__ == "__main__":  # pragma: no cover - python -m eval.cli
    sys.exit(app())


def bench_load(
    config: ConfigOption = None,
    out: Annotated[Path, typer.Option("--out", help="write the figures as JSON here")] = Path("reports/load/load.json"),
    citizens: Annotated[int, typer.Option(min=1, max=2000, help="simulated citizens of the steady phase")] = 200,
    duration: Annotated[float, typer.Option(min=5, max=3600, help="seconds of the steady phase (ramp-up included)")] = 150.0,
    workers: Annotated[int, typer.Option(min=1, max=16, help="server workers of the steady phase")] = 2,
    saturation_workers: Annotated[str, typer.Option(help="worker counts stepped up without waits, comma-separated")] = "1,2",
    steps: Annotated[str, typer.Option(help="users of each step of the step-up, comma-separated")] = "1,2,4,6,8,12,16,24,32",
    step_seconds: Annotated[float, typer.Option(min=2, max=600, help="seconds of each step")] = 15.0,
    agents: Annotated[int, typer.Option(min=1, max=50, help="simulated staff claiming and replying")] = 4,
    database_url: Annotated[
        Optional[str], typer.Option(help="a PostgreSQL server URL to create the run's databases on (default: a throw-away one)")
    ] = None,
    redis_url: Annotated[Optional[str], typer.Option(help="a Redis URL (default: a throw-away redis-server)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="a small bounded run (a few citizens, ~20 s, one short step-up): CI")] = False,
) -> None:
    """Load test: citizens (locust, loopback only) against N workers on PostgreSQL and Redis; the
    saturation point of 1 and 2 workers; lost or duplicated messages checked in the database."""
    from eval.load.bench import LoadPlan, quick_plan, run, summary

    def numbers(text: str) -> tuple[int, ...]:
        try:
            return tuple(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            from assistant.core.errors import InvalidInput

            raise InvalidInput(f"{text!r} is not a comma-separated list of whole numbers, e.g. 1,2") from None

    common = dict(database_url=database_url, redis_url=redis_url)
    if quick:
        plan = quick_plan(**common)
    else:
        plan = LoadPlan(
            citizens=citizens, duration_s=duration, workers=workers, saturation_workers=numbers(saturation_workers),
            steps=numbers(steps), step_s=step_seconds, agents=agents, **common,  # type: ignore[arg-type]
        )
    result = run(plan, out.parent, config=config, say=_note)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1, allow_nan=True), encoding="utf-8")
    typer.echo(summary(result))
    typer.echo(f"figures: {out}")
