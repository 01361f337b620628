"""``xiaoshen bench retrieval``: our retriever against peers, same corpus, same embedder.

Systems (all rank service items; chunk-level peers are collapsed to items by
first occurrence, exactly as ours aggregates chunks):

- ``ours``: the hybrid retriever (analyzer, BM25 + FAISS, fusion, query understanding);
- ``rank_bm25``: rank_bm25 BM25Okapi over jieba tokens of the same chunks;
- ``bm25s``: bm25s over the same jieba tokens;
- ``dense``: FAISS over the same chunks, each embedded with its item name in front, nothing else;
- ``langchain``: LangChain EnsembleRetriever (BM25Retriever + FAISS vector
  store through an Embeddings adapter over our embedder), weights 0.3 / 0.7.

Metrics per system: hit@1, hit@5, MRR@10, p50/p95 query latency (ms) and index
build time (s, with embeddings from the shared disk cache, so it measures
indexing, not the model).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.core.errors import InvalidInput
from assistant.core.types import Embedder, RetrievalQuery, ServiceItem

SYSTEMS: tuple[str, ...] = ("ours", "rank_bm25", "bm25s", "dense", "langchain")


def content_key(items: Sequence[ServiceItem]) -> str:
    """A short hash of the items' ids and contents: a benchmark index is kept per key."""
    import hashlib

    from retrieval.chunking import item_hash

    h = hashlib.sha256()
    for i in sorted(items, key=lambda i: i.id):
        h.update(f"{i.id}:{item_hash(i)}\n".encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class BenchQuery:
    """One scored question: its text, acceptable items and the conversation context."""

    case_id: str
    text: str
    gold: tuple[str, ...]
    #: index of the previous turn of the same conversation in the query list, or -1.
    previous: int = -1


@dataclass
class SystemResult:
    """Metrics of one system."""

    name: str
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    build_s: float = 0.0
    queries: int = 0
    failures: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready metrics (failures truncated to 50)."""
        return {
            "hit@1": round(self.hit1, 4),
            "hit@5": round(self.hit5, 4),
            "mrr@10": round(self.mrr10, 4),
            "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "build_s": round(self.build_s, 3),
            "queries": self.queries,
        }


def read_bench(path: Path, known_items: set[str]) -> list[BenchQuery]:
    """Turns with ``expect.items`` of a benchmark file; follow-up turns link to their previous turn.

    Malformed lines and turns naming unknown items are skipped (the eval
    command reports them); an unreadable file raises InvalidInput.
    """
    if not path.is_file():
        raise InvalidInput(f"benchmark {str(path)!r} not found; pass --bench PATH")
    queries: list[BenchQuery] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            case = json.loads(line)
            turns = case["turns"]
        except (ValueError, KeyError, TypeError):
            continue
        previous = -1
        for turn in turns:
            items = tuple((turn.get("expect") or {}).get("items") or ())
            text = str(turn.get("user") or "").strip()
            if not items or not text or not set(items) & known_items:
                previous = -1 if not items else previous
                continue
            queries.append(BenchQuery(str(case.get("id", "")), text, items, previous))
            previous = len(queries) - 1
    return queries


def corpus_queries(path: Path) -> list[BenchQuery]:
    """A corpus's questions as queries whose answer is the entry itself (id match)."""
    from retrieval.external_corpora import read_corpus

    return [BenchQuery(e["id"], e["question"], (e["id"],)) for e in read_corpus(path) if e["question"]]


def material_queries(items: Sequence[ServiceItem], *, per_query: int = 3, max_gold: int = 3) -> list[BenchQuery]:
    """Questions made from each item's materials, with every item that asks for all of them as gold.

    For an item with two or more materials, the query lists up to
    ``per_query`` of them ("需要准备：A、B、C"), skipping materials that repeat
    four or more characters of the item's name, so the query is never a copy
    of the name.  It measures whether a citizen who knows what they hold finds
    the service; queries whose materials fit more than ``max_gold`` items are
    dropped, because they do not identify a service.
    """
    sets = {i.id: {m.name for m in i.materials} for i in items}
    queries: list[BenchQuery] = []
    for item in items:
        grams = {item.name[k : k + 4] for k in range(len(item.name) - 3)}
        chosen = [m.name for m in item.materials if not any(g in m.name for g in grams)][:per_query]
        if len(chosen) < 2:
            continue
        gold = tuple(i for i, have in sets.items() if have.issuperset(chosen))
        if len(gold) > max_gold:
            continue
        queries.append(BenchQuery(f"materials:{item.id}", "需要准备：" + "、".join(chosen), gold))
    return queries


def _jieba_tokens() -> Callable[[str], list[str]]:
    import jieba

    jieba.setLogLevel(60)

    def tok(text: str) -> list[str]:
        return [t for t in jieba.lcut_for_search(text.lower()) if t.strip() and not _is_punct(t)]

    return tok


def _is_punct(t: str) -> bool:
    return all(not ch.isalnum() for ch in t)


def _first_items(item_ids: Sequence[str], k: int = 10) -> list[str]:
    seen: list[str] = []
    for i in item_ids:
        if i not in seen:
            seen.append(i)
            if len(seen) == k:
                break
    return seen


def _score(name: str, queries: Sequence[BenchQuery], ranked: Sequence[list[str]], latencies: Sequence[float]) -> SystemResult:
    r = SystemResult(name, queries=len(queries))
    rr = []
    for q, ranking in zip(queries, ranked):
        rank = next((i + 1 for i, item in enumerate(ranking[:10]) if item in q.gold), 0)
        r.hit1 += rank == 1
        r.hit5 += 1 <= rank <= 5
        rr.append(1.0 / rank if rank else 0.0)
        if rank != 1:
            r.failures.append({"case": q.case_id, "query": q.text, "gold": list(q.gold), "top": ranking[:5], "rank": rank})
    n = max(len(queries), 1)
    r.hit1 /= n
    r.hit5 /= n
    r.mrr10 = sum(rr) / n
    lat = sorted(latencies)
    if lat:
        r.p50_ms = statistics.median(lat)
        r.p95_ms = float(np.percentile(lat, 95))
    return r


def run_bench(
    items: Sequence[ServiceItem],
    queries: Sequence[BenchQuery],
    embedder: Embedder,
    retrieval_settings,  # RetrievalSettings
    index_dir: Path,
    *,
    systems: Sequence[str] = SYSTEMS,
    progress: bool = False,
    use_context: bool = True,
    on_result: Callable[[SystemResult], None] | None = None,
    repeat: bool = False,
    paired: bool = False,
) -> dict[str, SystemResult]:
    """Build every system on ``items`` and score it on ``queries``.

    ``on_result`` is called with each system's result as soon as it is known.
    ``repeat`` asks every question to ours a second time (``ours-repeat``),
    which measures repeated questions served from the query-embedding cache.
    ``paired`` (with ours and langchain) times the two again question by
    question, interleaved (``ours-paired``, ``langchain-paired``): the fair
    latency comparison on a machine whose load changes during the run.
    """
    from retrieval.chunking import chunk_item, dense_text
    from retrieval.hybrid import build_retriever

    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise InvalidInput(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}")
    results: dict[str, SystemResult] = {}
    clear = getattr(embedder, "clear_query_cache", lambda: None)

    # ours first: it also embeds (through the cache) every chunk the peers use
    start = time.perf_counter()
    ours = build_retriever(items, embedder, retrieval_settings, index_dir, progress=progress)
    ours_build = time.perf_counter() - start
    chunks = list(ours.chunks)
    item_of = [c.item_id for c in chunks]
    names = {i.id: i.name for i in items}
    # the peers embed each chunk with its item's name in front (the usual way,
    # and what ours did before mixing name vectors in): through the cache, so
    # this embeds nothing after the first run
    texts = [dense_text(names[c.item_id], c) for c in chunks]
    vectors = np.asarray(embedder.embed_passages(texts), dtype=np.float32)

    def timed(
        fn: Callable[[BenchQuery, list[list[str]]], list[str]], *, cold: bool = True
    ) -> tuple[list[list[str]], list[float]]:
        if cold:
            clear()  # every system starts with a cold query cache
        ranked: list[list[str]] = []
        lat: list[float] = []
        for q in queries:
            t = time.perf_counter()
            ranking = fn(q, ranked)
            lat.append((time.perf_counter() - t) * 1000)
            ranked.append(ranking)
        return ranked, lat

    def record(name: str, ranked: list[list[str]], lat: list[float], build: float = 0.0) -> None:
        results[name] = _score(name, queries, ranked, lat)
        results[name].build_s = build
        if on_result:
            on_result(results[name])

    if "ours" in systems:

        def ask_ours(q: BenchQuery, done: list[list[str]]) -> list[str]:
            current = done[q.previous][0] if use_context and q.previous >= 0 and done[q.previous] else ""
            return [h.item_id for h in ours.retrieve(RetrievalQuery(q.text, current_item=current), top_k=10)]

        record("ours", *timed(ask_ours), build=ours_build)
        if repeat:
            # the same questions again: every query vector now comes from the
            # bounded cache, so this times repeated questions (the pipeline without the model)
            record("ours-repeat", *timed(ask_ours, cold=False))

    tok = _jieba_tokens() if {"rank_bm25", "bm25s", "langchain"} & set(systems) else None
    if "rank_bm25" in systems:
        from rank_bm25 import BM25Okapi

        start = time.perf_counter()
        corpus_tokens = [tok(t) for t in texts]  # type: ignore[misc]
        okapi = BM25Okapi(corpus_tokens)
        build = time.perf_counter() - start

        def ask_okapi(q: BenchQuery, _: list[list[str]]) -> list[str]:
            return _ranked_by_score(okapi.get_scores(tok(q.text)), item_of)  # type: ignore[misc]

        record("rank_bm25", *timed(ask_okapi), build=build)

    if "bm25s" in systems:
        import bm25s

        start = time.perf_counter()
        corpus_tokens = [tok(t) for t in texts]  # type: ignore[misc]
        model = bm25s.BM25()
        model.index(corpus_tokens, show_progress=False)
        vocab = model.vocab_dict
        build = time.perf_counter() - start

        def ask_bm25s(q: BenchQuery, _: list[list[str]]) -> list[str]:
            qt = [t for t in tok(q.text) if t in vocab]  # type: ignore[misc]
            if not qt:
                return []
            return _ranked_by_score(model.get_scores(qt), item_of)

        record("bm25s", *timed(ask_bm25s), build=build)

    if "dense" in systems:
        import faiss

        start = time.perf_counter()
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(np.ascontiguousarray(vectors))
        build = time.perf_counter() - start

        def ask_dense(q: BenchQuery, _: list[list[str]]) -> list[str]:
            v = embedder.embed_queries([q.text])
            _, idx = flat.search(v, 100)
            return _first_items([item_of[j] for j in idx[0] if j >= 0])

        record("dense", *timed(ask_dense), build=build)

    if "langchain" in systems:
        from retrieval.langchain import ensemble_baseline

        start = time.perf_counter()
        ensemble = ensemble_baseline(chunks, texts, vectors, embedder, tokenizer=tok, k=50)  # type: ignore[arg-type]
        build = time.perf_counter() - start

        def ask_langchain(q: BenchQuery, _: list[list[str]]) -> list[str]:
            docs = ensemble.invoke(q.text)
            return _first_items([d.metadata["item_id"] for d in docs])

        record("langchain", *timed(ask_langchain), build=build)

        if paired and "ours" in systems:
            # each question to both, back to back and in alternating order, each
            # with a cold query cache: on a shared machine the two then see the
            # same load, which separate passes minutes apart do not
            both: dict[str, tuple[list[list[str]], list[float]]] = {"ours": ([], []), "langchain": ([], [])}
            asks = {"ours": ask_ours, "langchain": ask_langchain}
            for n, q in enumerate(queries):
                for name in ("ours", "langchain") if n % 2 == 0 else ("langchain", "ours"):
                    clear()
                    done, lat = both[name]
                    t = time.perf_counter()
                    done.append(asks[name](q, done))
                    lat.append((time.perf_counter() - t) * 1000)
            for name, (done, lat) in both.items():
                record(f"{name}-paired", done, lat)
    return results


def _ranked_by_score(scores: np.ndarray, item_of: Sequence[str]) -> list[str]:
    """Item ids by their best-scoring chunk among the 200 best, chunks scoring 0 left out."""
    order = np.argsort(-scores)[:200]
    return _first_items([item_of[j] for j in order if scores[j] > 0])


def format_table(title: str, results: dict[str, SystemResult]) -> str:
    """A plain-text table of the results."""
    head = f"{'system':<16} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7} {'build s':>8} {'n':>5}"
    lines = [title, head, "-" * len(head)]
    for name, r in results.items():
        lines.append(
            f"{name:<16} {r.hit1:>6.3f} {r.hit5:>6.3f} {r.mrr10:>7.3f} {r.p50_ms:>7.2f} {r.p95_ms:>7.2f} {r.build_s:>8.3f} {r.queries:>5}"
        )
    return "\n".join(lines)
