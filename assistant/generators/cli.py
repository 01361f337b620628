"""``xiaoshen bench generation``: time to first token and throughput per generator.

Questions are the single-turn answer turns of the development benchmark; each
is asked with its expected item and intent, so every generator gets the same
grounded request and only generation is timed.  Backends measured: the
composer always, each packaged local model whose parts are installed (with
llama-cpp-python), and the OpenAI-compatible server when ``generator.base_url``
is set.  For LLMs "tokens" are the streamed chunks (llama.cpp streams one
token per chunk); the composer streams paragraphs, so its characters per
second are the comparable figure.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from assistant.cli_options import ConfigOption

DEV_BENCH = Path(__file__).resolve().parents[2] / "eval" / "benchmarks" / "dev.jsonl"


def _requests(bench_path: Path, items: dict[str, Any], limit: int) -> list[Any]:
    from assistant.core.errors import InvalidInput
    from assistant.core.types import GenerationRequest
    from eval.benchmark import load_benchmark

    if not bench_path.is_file():
        raise InvalidInput(f"benchmark {str(bench_path)!r} not found; pass a JSONL file in the benchmark format")
    out = []
    for case in load_benchmark(bench_path).cases:
        turn = case.turns[0]
        e = turn.expect
        if len(case.turns) != 1 or e.action != "answer" or not e.intent or not e.intent.startswith("consult."):
            continue
        item = next((items[i] for i in e.items if i in items), None)
        if item is None:
            continue
        lang = "en" if case.lang == "en" else "zh"
        out.append(GenerationRequest(question=turn.user, intent=e.intent, lang=lang, items=(item,)))  # type: ignore[arg-type]
        if len(out) >= limit:
            break
    return out


def measure_raw(generator: Any, requests: list[Any]) -> dict[str, Any]:
    """The chat model itself on the same prompts: time to first token and tokens per second.

    The guarded stream releases whole checked sentences, so model speed is
    measured here, on the raw token stream (one token per chunk in llama.cpp).
    """
    from langchain_core.messages import HumanMessage, SystemMessage

    from assistant.generators.llm import build_prompt

    ttft, rates = [], []
    for req in requests:
        system, user, _ = build_prompt(req, generator.composer)
        started = time.perf_counter()
        first = None
        tokens = 0
        with generator.busy:  # a llama.cpp model must never run two generations at once
            started = time.perf_counter()
            for _chunk in generator.chat_model.stream([SystemMessage(content=system), HumanMessage(content=user)]):
                if first is None:
                    first = time.perf_counter() - started
                tokens += 1
        total = time.perf_counter() - started
        first = first if first is not None else total
        ttft.append(first * 1000.0)
        rates.append(max(tokens - 1, 0) / max(total - first, 1e-6))
    return {
        "model_ttft_ms_p50": round(statistics.median(ttft), 1),
        "model_tokens_per_s_p50": round(statistics.median(rates), 1),
    }


def measure(generator: Any, requests: list[Any]) -> dict[str, Any]:
    """Stream every request through ``generator`` (time to the first released piece, characters
    per second, fallback rate); for LLMs also the raw model figures of :func:`measure_raw`."""
    ttft, rates, char_rates, totals = [], [], [], []
    fallbacks = 0
    for req in requests:
        started = time.perf_counter()
        first = None
        pieces = 0
        chars = 0
        stream = generator.stream(req)
        for piece in stream:
            now = time.perf_counter()
            if first is None:
                first = now - started
            pieces += 1
            chars += len(piece)
        total = time.perf_counter() - started
        first = first if first is not None else total
        ttft.append(first * 1000.0)
        totals.append(total * 1000.0)
        decode = max(total - first, 1e-6)
        rates.append(max(pieces - 1, 0) / decode)
        char_rates.append(chars / max(total, 1e-6))
        fallbacks += bool(stream.fallback)
    raw = measure_raw(generator, requests) if hasattr(generator, "chat_model") else {}
    return {
        **raw,
        "generator": generator.name,
        "questions": len(requests),
        "ttft_ms_p50": round(statistics.median(ttft), 2),
        "ttft_ms_max": round(max(ttft), 2),
        "total_ms_p50": round(statistics.median(totals), 1),
        # Released pieces are paragraphs (composer) or checked sentences (LLM), so the
        # token rate is the model's own (measure_raw); the composer has none.
        "tokens_per_s_p50": raw.get("model_tokens_per_s_p50"),
        "chars_per_s_p50": round(statistics.median(char_rates), 1),
        "fallback_rate": round(fallbacks / len(requests), 3) if generator.name.startswith("llm:") else 0.0,
    }


def _available_backends(settings: Any) -> list[tuple[str, Any]]:
    """(label, builder) for every generator this machine can run."""
    import importlib.util

    from assistant.generators.composer import Composer
    from assistant.generators.llm import PACKAGED_MODELS, _part_paths, make_llamacpp_generator, make_openai_generator
    from assistant.core.errors import BackendUnavailable

    out: list[tuple[str, Any]] = [("composer", Composer)]
    if importlib.util.find_spec("llama_cpp") is not None:
        for name, spec in PACKAGED_MODELS.items():
            try:
                _part_paths(spec)
            except BackendUnavailable:
                continue
            gen_settings = settings.generator.model_copy(update={"backend": "llamacpp", "model": name, "model_path": None})
            out.append((f"llamacpp:{name}", lambda s=gen_settings: make_llamacpp_generator(s)))
    if settings.generator.base_url and settings.generator.model:
        out.append((f"openai:{settings.generator.model}", lambda: make_openai_generator(settings.generator)))
    return out


def bench_generation(
    config: ConfigOption = None,
    bench_path: Annotated[Path, typer.Option("--bench", help="benchmark JSONL with the questions")] = DEV_BENCH,
    limit: Annotated[int, typer.Option(help="questions per generator")] = 10,
    only: Annotated[Optional[list[str]], typer.Option("--only", help="measure only these generators (labels as listed)")] = None,
    as_json: Annotated[Optional[Path], typer.Option("--json", help="also write the figures to this file ('-' for stdout)")] = None,
) -> None:
    """Time to first token and tokens/s for the composer and each available LLM backend."""
    from assistant.cli_options import settings_from
    from assistant.wiring import load_knowledge

    settings = settings_from(config)
    items = {i.id: i for i in load_knowledge(settings)}
    requests = _requests(bench_path, items, limit)
    if not requests:
        from assistant.core.errors import InvalidInput

        raise InvalidInput(f"no single-turn consult answer questions with a known item in {bench_path}")
    rows = []
    for label, build in _available_backends(settings):
        if only and label not in only:
            continue
        typer.echo(f"measuring {label} on {len(requests)} questions…", err=True)
        started = time.perf_counter()
        generator = build()
        load_s = time.perf_counter() - started
        row = {"backend": label, "load_s": round(load_s, 2), **measure(generator, requests)}
        rows.append(row)
        tps = "n/a" if row["tokens_per_s_p50"] is None else f"{row['tokens_per_s_p50']:.1f}"
        typer.echo(
            f"{label:32s} load {row['load_s']:6.2f}s  first text p50 {row['ttft_ms_p50']:9.2f} ms  "
            f"model first token p50 {row.get('model_ttft_ms_p50', 'n/a')} ms  "
            f"tokens/s p50 {tps:>7s}  chars/s p50 {row['chars_per_s_p50']:11.1f}  "
            f"fallback {row['fallback_rate']:.2f}"
        )
    doc = {"benchmark": str(bench_path), "questions": len(requests), "results": rows}
    if as_json is not None:
        text = json.dumps(doc, ensure_ascii=False, indent=2)
        if str(as_json) == "-":
            typer.echo(text)
        else:
            as_json.write_text(text + "\n", encoding="utf-8")
