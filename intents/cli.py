"""``xiaoshen intents``: train the classifier, fit the policy, measure the dialogue.

Heavy imports happen inside the commands so ``xiaoshen --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.cli_options import ConfigOption

app = typer.Typer(help="Intent classifier and action policy: train, fit, measure.", no_args_is_help=True)

DEV_BENCH = Path(__file__).resolve().parent.parent / "eval" / "benchmarks" / "dev.jsonl"


def _items(settings):  # type: ignore[no-untyped-def]
    from assistant.wiring import load_knowledge

    return load_knowledge(settings)


def _load_bench(path: Path, settings, known_items=None):  # type: ignore[no-untyped-def]
    from assistant.core.errors import InvalidInput
    from eval.benchmark import load_benchmark

    if not path.is_file():
        raise InvalidInput(f"benchmark {str(path)!r} not found; pass a JSONL file in the benchmark format")
    bench = load_benchmark(path, known_items=known_items or None)
    for problem in bench.problems:
        typer.echo(f"skipped {problem}", err=True)
    return bench


@app.command()
def train(
    config: ConfigOption = None,
    out: Annotated[Optional[Path], typer.Option(help="model file (default intents/models/intent_classifier.joblib)")] = None,
    c: Annotated[float, typer.Option(help="inverse regularisation of the logistic regression")] = 16.0,
    benchmark: Annotated[
        Optional[Path],
        typer.Option(help="labelled benchmark whose turns are trained on and cross-validated (default: the dev set)"),
    ] = None,
    no_benchmark: Annotated[bool, typer.Option("--no-benchmark", help="train on intents/data/ only")] = False,
    no_embeddings: Annotated[
        bool, typer.Option("--no-embeddings", help="character n-grams only, without the embedder's vectors")
    ] = False,
    evaluate: Annotated[
        Optional[Path],
        typer.Option("--evaluate", help="also score the new model on this benchmark (single messages, no dialogue)"),
    ] = None,
) -> None:
    """Train the intent classifier from intents/data/, the dev benchmark and the KB's names; write the artefact."""
    from assistant.cli_options import settings_from
    from intents.trained import DEFAULT_BENCHMARK, DEFAULT_MODEL_PATH, TrainedClassifier
    from intents.trained import train as train_model

    settings = settings_from(config)
    items = _items(settings)
    path = out or settings.intents.model_path or DEFAULT_MODEL_PATH
    bench_path = None if no_benchmark else (benchmark or DEFAULT_BENCHMARK)
    cases = ()
    if bench_path is not None:
        # names a missing file and lists bad lines before training
        cases = _load_bench(bench_path, settings, known_items={i.id for i in items}).cases
    embedder = None
    if not no_embeddings:
        from assistant.wiring import make_embedder

        embedder = make_embedder(settings.embedder, settings.paths.cache_dir)
    manifest = train_model(items, path, embedder=embedder, benchmark=bench_path, benchmark_cases=cases, c=c)
    typer.echo(json.dumps(manifest, ensure_ascii=False, indent=2))
    typer.echo(f"wrote {path} and {path.with_suffix('.json')}")
    if evaluate is not None:
        bench = _load_bench(evaluate, settings)
        clf = TrainedClassifier(path, embedder=embedder).load()
        from sklearn.metrics import f1_score

        turns = [t for case in bench.cases for t in case.turns if t.expect.intent]
        gold = [t.expect.intent for t in turns]
        pred = [clf.classify(t.user).label for t in turns]
        acc = sum(p == g for p, g in zip(pred, gold)) / len(turns)
        f1 = f1_score(gold, pred, average="macro")
        trained_on = bench_path is not None and evaluate.resolve() == bench_path.resolve()
        typer.echo(
            f"{evaluate.name}, single messages without dialogue, {len(turns)} turns: "
            f"intent accuracy {acc:.4f}, macro-F1 {f1:.4f}"
            + (" (trained on: these are training figures, see benchmark_cv_* above)" if trained_on else "")
        )


def _engine(settings):  # type: ignore[no-untyped-def]
    from assistant.wiring import build_dialogue, build_stages

    return build_dialogue(settings, build_stages(settings, progress=True))


def _out_of_fold(settings, engine, bench_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Let ``engine`` classify the texts of ``bench_path`` out of fold when the model learnt from them."""
    from eval.dialogue_replay import with_out_of_fold

    engine.classifier, n = with_out_of_fold(engine.classifier, settings.intents, bench_path)
    if n:
        typer.echo(f"{bench_path.name} was trained on: its {n} labelled texts are classified out of fold", err=True)


def _index_stamp(settings) -> str:  # type: ignore[no-untyped-def]
    """A hash of the built index's manifest: retrieval results cached under it stay valid."""
    import hashlib

    manifest = settings.paths.index_dir / "kb" / "manifest.json"
    data = manifest.read_bytes() if manifest.is_file() else b""
    return hashlib.sha256(data + settings.retrieval.model_dump_json().encode()).hexdigest()


@app.command("fit-policy")
def fit_policy_command(
    bench_path: Annotated[Path, typer.Argument(help="development benchmark JSONL")] = DEV_BENCH,
    config: ConfigOption = None,
    out: Annotated[Optional[Path], typer.Option(help="policy file (default assistant/dialogue/policy.json)")] = None,
    score_key: Annotated[
        Optional[list[str]], typer.Option("--score-key", help="hit numbers to try as evidence (default: score and every component)")
    ] = None,
    retrieval_cache: Annotated[
        Optional[Path], typer.Option(help="keep retrieval results here between runs (keyed by the index content)")
    ] = None,
    rounds: Annotated[int, typer.Option(help="coordinate-ascent rounds over the thresholds")] = 2,
) -> None:
    """Fit the action policy's thresholds on the development benchmark and save them."""
    from datetime import datetime, timezone

    from assistant.cli_options import settings_from
    from eval.dialogue_replay import fit_policy
    from assistant.dialogue.policy import DEFAULT_POLICY_PATH, WORD_COUNTS
    from assistant.core.types import RetrievalQuery

    settings = settings_from(config)
    bench = _load_bench(bench_path, settings)
    engine = _engine(settings)
    _out_of_fold(settings, engine, bench_path)
    keys = score_key
    if not keys:
        probe = engine.retriever.retrieve(RetrievalQuery(text="居住证怎么办理"), top_k=1)
        keys = ["score", *sorted(set(probe[0].components) - WORD_COUNTS)] if probe else ["score"]
    typer.echo(f"fitting with evidence from {keys}", err=True)
    base = engine.policy.thresholds
    stamp = _index_stamp(settings)
    best, metrics, tried = fit_policy(
        engine, bench, base, score_keys=keys, rounds=rounds, progress=True,
        retrieval_cache=retrieval_cache, cache_stamp=stamp,
    )
    path = out or DEFAULT_POLICY_PATH
    doc = {
        "fitted": True,
        "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "benchmark": str(bench_path),
        "benchmark_turns": bench.turns,
        "classifier": settings.intents.backend,
        "retrieval": settings.retrieval.model_dump(mode="json"),
        "settings_tried": tried,
        "metrics": {k: round(v, 4) for k, v in metrics.items()},
        "thresholds": best.to_json(),
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    typer.echo(f"wrote {path}")


@app.command()
def evaluate(
    bench_path: Annotated[Path, typer.Argument(help="benchmark JSONL")] = DEV_BENCH,
    config: ConfigOption = None,
    failures: Annotated[Optional[Path], typer.Option(help="write failing turns to this JSONL file")] = None,
    retrieval_cache: Annotated[
        Optional[Path], typer.Option(help="keep retrieval results here between runs (keyed by the index content)")
    ] = None,
) -> None:
    """Replay a benchmark through the dialogue engine and print the dialogue figures."""
    from dataclasses import asdict

    from assistant.cli_options import settings_from
    from eval.dialogue_replay import CachingRetriever, dialogue_metrics, replay

    settings = settings_from(config)
    bench = _load_bench(bench_path, settings)
    engine = _engine(settings)
    _out_of_fold(settings, engine, bench_path)
    caching = CachingRetriever(engine.retriever, path=retrieval_cache, stamp=_index_stamp(settings))
    engine.retriever = caching
    records = replay(engine, bench)
    caching.save()
    metrics = dialogue_metrics(records)
    typer.echo(json.dumps({k: round(v, 4) for k, v in metrics.items()}, indent=2))
    if failures is not None:
        with failures.open("w", encoding="utf-8") as f:
            for r in records:
                wrong_item = r.expected_items and r.expected_action == "answer" and (
                    not r.top_items or r.top_items[0] not in r.expected_items
                )
                if r.intent != r.expected_intent or r.action != r.expected_action or wrong_item:
                    f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
        typer.echo(f"wrote {failures}")
