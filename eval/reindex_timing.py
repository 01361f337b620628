"""Time re-indexing after one item changes, with the configured (real) embedder.

Builds the index of the knowledge base (or of ``--guides-corpus``) in a
scratch folder, then, ``--rounds`` times, renames its largest item and changes
one field of it, timing each ``build_retriever`` call, and goes back to the
unchanged items in between.  New text is made of random Chinese characters so
nothing comes from the embedding cache: the timings include the embedder.

It uses only ``retrieval.hybrid.build_retriever``, so the same file times an
older checkout of the ``retrieval`` package (put it first on ``PYTHONPATH``)::

    .venv/bin/python -P -m eval.reindex_timing --rounds 3
    git archive 55de4da retrieval | tar -x -C /tmp/prev
    PYTHONPATH=/tmp/prev:. .venv/bin/python -P -m eval.reindex_timing --rounds 3

Prints one JSON line: seconds per round for ``rename`` and ``field``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the timing and print (and return) the result."""
    from assistant.core.settings import load_settings
    from assistant.core.errors import InvalidInput
    from assistant.wiring import load_knowledge
    from retrieval.chunking import chunk_item
    from retrieval.external_corpora import guide_items
    from assistant.wiring import make_embedder
    from retrieval.hybrid import build_retriever

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="renames and field changes to time (each)")
    parser.add_argument("--guides-corpus", type=Path, default=None, help="service-guide JSONL to index instead of the KB")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        raise InvalidInput(f"--rounds {args.rounds} must be at least 1")
    settings = load_settings(args.config)
    items = guide_items(args.guides_corpus) if args.guides_corpus else list(load_knowledge(settings))
    embedder = make_embedder(settings.embedder, settings.paths.cache_dir)
    rng = random.Random()

    def fresh(n: int) -> str:
        # characters nobody indexed together before: the embedding cache cannot answer
        return "".join(chr(0x4E00 + rng.randrange(0x5000)) for _ in range(n))

    target = max(items, key=lambda i: len(chunk_item(i)))
    scratch = Path(tempfile.mkdtemp(prefix="xs-reindex-"))
    try:
        index_dir = scratch / "index"
        build_retriever(items, embedder, settings.retrieval, index_dir)
        embedder.embed_queries(["预热"])  # load the engine outside the timings
        times: dict[str, list[float]] = {"rename": [], "field": []}
        for _ in range(args.rounds):
            for kind in ("rename", "field"):
                if kind == "rename":
                    # at most 12 characters, so the new name enters the tokenizer dictionary
                    change = {"name": target.name[:6] + fresh(3)}
                else:
                    change = {"fees": "收取工本费" + fresh(2)}
                changed = [replace(i, **change) if i.id == target.id else i for i in items]
                start = time.perf_counter()
                build_retriever(changed, embedder, settings.retrieval, index_dir)
                times[kind].append(round(time.perf_counter() - start, 3))
                build_retriever(items, embedder, settings.retrieval, index_dir)  # back, from the cache
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result: dict[str, object] = {
        "items": len(items),
        "item": target.id,
        "item_chunks": len(chunk_item(target)),
        **times,
        "rename_median": statistics.median(times["rename"]),
        "field_median": statistics.median(times["field"]),
    }
    print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
