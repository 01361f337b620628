"""Retrieval commands: ``xiaoshen bench retrieval`` (registered by assistant.cli)
and ``python -m retrieval.cli train-reranker``.

Heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.cli_options import ConfigOption
from assistant.core.errors import InvalidInput

app = typer.Typer(help="Retrieval: benchmark against peers, train the feature reranker.", no_args_is_help=True)

_DEFAULT_BENCH = Path(__file__).resolve().parent.parent / "eval" / "benchmarks" / "dev.jsonl"
#: Hand-written citizen questions about the Guangdong service guides (see the file's header).
_GUIDE_QUESTIONS = Path(__file__).resolve().parent / "benchmarks" / "guangdong_questions.jsonl"


def _load(  # type: ignore[no-untyped-def]
    config: Optional[Path],
    faq_corpus: Optional[Path],
    bench: Path,
    limit: int,
    guides_corpus: Optional[Path] = None,
    guides_queries: str = "questions",
    guides_questions: Path = _GUIDE_QUESTIONS,
):
    from assistant.cli_options import settings_from
    from assistant.wiring import load_knowledge
    from retrieval.bench import content_key, corpus_queries, material_queries, read_bench
    from retrieval.external_corpora import corpus_items, guide_items

    settings = settings_from(config)
    if faq_corpus is not None and guides_corpus is not None:
        raise InvalidInput("pass either --faq-corpus or --guides-corpus, not both")
    if guides_corpus is not None:
        items = guide_items(guides_corpus)
        if guides_queries == "questions":
            queries = read_bench(guides_questions, {i.id for i in items})
            what = f"hand-written questions of {guides_questions.name}"
        elif guides_queries == "materials":
            queries = material_queries(items)
            what = "questions made from materials"
        else:
            raise InvalidInput(f"unknown --guides-queries {guides_queries!r}; choose questions or materials")
        title = f"guides {guides_corpus.name}: {len(items)} guides, {len(queries)} {what}"
    elif faq_corpus is not None:
        items = corpus_items(faq_corpus)
        queries = corpus_queries(faq_corpus)
        title = f"corpus {faq_corpus.name}: {len(items)} answers, {len(queries)} questions"
    else:
        items = list(load_knowledge(settings))
        queries = read_bench(bench, {i.id for i in items})
        title = f"{bench.name} over {settings.paths.kb_dir}: {len(items)} items, {len(queries)} turns with items"
    if limit:
        queries = queries[:limit]
    if not queries:
        raise InvalidInput(f"no scorable question in {faq_corpus or bench}; it needs turns with expect.items")
    index_dir = settings.paths.index_dir / f"bench-{content_key(items)}"
    return settings, items, queries, index_dir, title


def bench_retrieval(
    config: ConfigOption = None,
    bench: Annotated[Path, typer.Option("--bench", help="benchmark JSONL (shared/benchmark-format.md)")] = _DEFAULT_BENCH,
    faq_corpus: Annotated[
        Optional[Path],
        typer.Option("--faq-corpus", help="question-answer corpus JSONL: answers are the corpus, questions the queries"),
    ] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="write the results as JSON to PATH, or - for stdout")] = None,
    limit: Annotated[int, typer.Option(help="score only the first N questions (0 = all)")] = 0,
    systems: Annotated[str, typer.Option(help="comma-separated systems: ours,rank_bm25,bm25s,dense,langchain")] = "ours,rank_bm25,bm25s,dense,langchain",
    failures: Annotated[Optional[Path], typer.Option(help="write our failed questions (rank != 1) as JSONL")] = None,
    guides_corpus: Annotated[
        Optional[Path],
        typer.Option("--guides-corpus", help="service-guide JSONL (Guangdong 办事指南 format) as the corpus"),
    ] = None,
    guides_queries: Annotated[
        str,
        typer.Option(
            "--guides-queries",
            help="queries for --guides-corpus: 'questions' (hand-written, --guides-questions) or 'materials' (made from each guide's materials)",
        ),
    ] = "questions",
    guides_questions: Annotated[
        Path, typer.Option("--guides-questions", help="benchmark JSONL of questions about the guides")
    ] = _GUIDE_QUESTIONS,
    repeat: Annotated[
        bool, typer.Option("--repeat", help="ask ours every question twice; the second pass (ours-repeat) times repeated questions")
    ] = False,
    paired: Annotated[
        bool,
        typer.Option("--paired", help="time ours and langchain again, interleaved question by question (fair on a busy machine)"),
    ] = False,
) -> None:
    """Benchmark our retriever against rank-bm25, bm25s, dense only and LangChain's EnsembleRetriever."""
    from retrieval.bench import format_table, run_bench
    from assistant.wiring import make_embedder

    settings, items, queries, index_dir, title = _load(
        config, faq_corpus, bench, limit, guides_corpus, guides_queries, guides_questions
    )
    embedder = make_embedder(settings.embedder, settings.paths.cache_dir)
    chosen = [s.strip() for s in systems.split(",") if s.strip()]
    def done(r) -> None:  # type: ignore[no-untyped-def]
        typer.echo(f"{r.name}: " + json.dumps(r.as_dict()), err=True)

    results = run_bench(
        items, queries, embedder, settings.retrieval, index_dir, systems=chosen, progress=True, on_result=done, repeat=repeat, paired=paired
    )
    table = format_table(title, results)
    payload = {
        "corpus": str(faq_corpus or guides_corpus or settings.paths.kb_dir),
        "bench": None if faq_corpus else (str(guides_questions) if guides_queries == "questions" else "materials")
        if guides_corpus
        else str(bench),
        "items": len(items),
        "queries": len(queries),
        "embedder": embedder.name,
        "settings": settings.retrieval.model_dump(mode="json"),
        "systems": {name: r.as_dict() for name, r in results.items()},
    }
    if json_out == "-":
        typer.echo(table, err=True)
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        typer.echo(table)
        if json_out:
            Path(json_out).write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    if failures and "ours" in results:
        with failures.open("w", encoding="utf-8") as f:
            for row in results["ours"].failures:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


app.command("bench")(bench_retrieval)


@app.command("train-reranker")
def train_reranker(
    config: ConfigOption = None,
    bench: Annotated[Path, typer.Option("--bench", help="development benchmark JSONL")] = _DEFAULT_BENCH,
    index_name: Annotated[str, typer.Option(help="index under <data_dir>/index to train for")] = "kb",
) -> None:
    """Train the feature reranker on development questions; writes reranker.json next to the index."""
    from assistant.core.types import RetrievalQuery
    from assistant.wiring import load_knowledge
    from assistant.cli_options import settings_from
    from retrieval.bench import read_bench
    from assistant.wiring import make_embedder
    from retrieval.hybrid import build_retriever
    from retrieval.rerank import train_feature_reranker

    settings = settings_from(config)
    items = list(load_knowledge(settings))
    index_dir = settings.paths.index_dir / index_name
    embedder = make_embedder(settings.embedder, settings.paths.cache_dir)
    retriever = build_retriever(items, embedder, settings.retrieval, index_dir, progress=True)
    queries = read_bench(bench, {i.id for i in items})
    artefact = train_feature_reranker(
        retriever, [(RetrievalQuery(q.text), q.gold) for q in queries], index_dir
    )
    typer.echo(f"trained on {artefact['queries']} questions; wrote {index_dir / 'reranker.json'}")


if __name__ == "__main__":
    from assistant.core.errors import XiaoShenError

    try:
        app()
    except XiaoShenError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
