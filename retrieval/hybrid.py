"""The hybrid retriever: BM25 + dense (FAISS) over chunks, fused and ranked by item.

``build_retriever`` loads a persisted index when the items are unchanged and
otherwise re-indexes only what changed (tokens and vectors of unchanged chunks
are reused; the BM25 matrix and FAISS index are rebuilt from them, which takes
milliseconds), then saves it.  Layout of ``index_dir``::

    manifest.json   format, embedder, item content hashes, chunk count
    analyzer.json   the Analyzer (vocabulary, stop words)
    chunks.jsonl    the chunk table with each chunk's normalised text and tokens
    vectors.npy     chunk passage vectors, row i = chunk i (before the name is mixed in)
    dense.faiss     the FAISS index over vectors.npy
    bm25.npz        the BM25 matrix and its vocabulary
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.core.errors import IndexNotBuilt, InvalidInput
from assistant.core.settings import RetrievalSettings
from assistant.core.text import is_generic, says_nonlocal
from assistant.core.types import Chunk, Embedder, Hit, RetrievalQuery, ServiceItem
from retrieval.analyzer import Analyzer, TermMatch
from retrieval.bm25 import BM25
from retrieval.chunking import ENGLISH_ANSWER_FIELDS, chunk_item, dense_text, item_hash
from retrieval.fusion import group_max, minmax_array, rrf_array

log = logging.getLogger(__name__)

INDEX_FORMAT = 4
#: Above this many chunks FAISS uses HNSW instead of exact search.  Measured on
#: 2 cores (384 dims, k=100): exact search costs ~0.4 ms at 10k chunks and
#: ~4 ms at 100k; HNSW(M=32, efSearch=128) stays under 1 ms with recall@100 > 0.97.
HNSW_THRESHOLD = 50_000


@dataclass(frozen=True)
class RetrievalParams:
    """Ranking knobs; the defaults were tuned on development data (see ``xiaoshen bench retrieval``)."""

    fusion: str = "weighted"
    bm25_weight: float = 0.3
    rrf_k: int = 60
    #: added to the fused score of items whose name or alias the query contains.
    alias_boost: float = 0.35
    #: added for a pinyin or homophone match (less certain than an exact alias).
    fuzzy_boost: float = 0.25
    #: added to the conversation's current item when the query has words of its own.
    context_boost: float = 0.15
    #: chunks taken from each of BM25 and FAISS before aggregation to items.
    chunk_candidates: int = 200
    #: weight of the item's name-chunk vector mixed into its other chunks' vectors
    #: (see ``passage_texts``); 0.3 on the dev set: hit@1 0.945 -> 0.952 against
    #: passages that carry the name as text, and flat from 0.3 to 0.8.
    name_context_weight: float = 0.3

    @classmethod
    def from_settings(cls, s: RetrievalSettings) -> RetrievalParams:
        """The params of a settings section."""
        return cls(fusion=s.fusion, bm25_weight=s.bm25_weight, rrf_k=s.rrf_k)


def passage_texts(chunks: Sequence[Chunk], item_names: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """(text embedded per chunk, row of its name context or -1).

    An item with a name chunk has its chunks embedded as they are, and each
    other chunk's vector is mixed with the name chunk's (``compose_vectors``),
    so renaming an item re-embeds one short text instead of all its chunks.
    An item without a name chunk (a corpus answer whose name is its first
    sentence) keeps the name in front of each later chunk's text
    (``chunking.dense_text``): mixing in that sentence's vector lowered govqa
    MRR@10 from 0.824 to 0.811.
    """
    name_row = {}
    for n, c in enumerate(chunks):
        if c.field == "name" and c.item_id not in name_row:
            name_row[c.item_id] = n
    texts: list[str] = []
    context = np.full(len(chunks), -1, dtype=np.int64)
    for n, c in enumerate(chunks):
        row = name_row.get(c.item_id)
        if row is None:
            texts.append(dense_text(item_names.get(c.item_id, ""), c))
        else:
            texts.append(c.text)
            if c.field not in ("name", "name_en"):
                context[n] = row
    return texts, context


def compose_vectors(passages: np.ndarray, context: np.ndarray, weight: float) -> np.ndarray:
    """Chunk vectors: a chunk with a name context gets normalise(passage + weight * name vector)."""
    vectors = np.array(passages, dtype=np.float32, copy=True)
    rows = np.flatnonzero(context >= 0)
    if len(rows) and weight:
        mixed = passages[rows] + weight * passages[context[rows]]
        vectors[rows] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    return vectors


class DenseIndex:
    """FAISS inner-product search over L2-normalised chunk vectors."""

    def __init__(self, vectors: np.ndarray) -> None:
        import faiss

        # one query at a time gains nothing from OpenMP threads, whose spinning
        # slows the embedder on a busy 2-core machine
        faiss.omp_set_num_threads(1)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = self.vectors.shape if self.vectors.ndim == 2 else (0, 0)
        self.kind = "hnsw" if n > HNSW_THRESHOLD else "flat"
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 128
        else:
            index = faiss.IndexFlatIP(dim)
        if n:
            index.add(self.vectors)
        self.index = index

    def search(self, qvec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, chunk indexes) of the ``k`` nearest chunks; -1 indexes are dropped."""
        k = min(k, self.index.ntotal)
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores, idx = self.index.search(np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32), k)
        keep = idx[0] >= 0
        return scores[0][keep], idx[0][keep]


@dataclass(frozen=True)
class ItemScores:
    """One component's scores over the whole item table (index = ``HybridRetriever.item_ids``).

    ``scores[i]`` is item i's best chunk score; it counts only where
    ``present[i]`` (the item has a chunk among the component's candidates).
    ``chunk_scores`` keeps the per-chunk scores, to pick an item's evidence chunk.
    """

    scores: np.ndarray
    present: np.ndarray
    chunk_scores: np.ndarray

    def as_dict(self, item_ids: Sequence[str]) -> dict[str, float]:
        """Item id -> score of the present items."""
        return {item_ids[i]: float(self.scores[i]) for i in np.flatnonzero(self.present)}


class HybridRetriever:
    """BM25 + dense retrieval over chunks, fused per item, with query understanding.

    Implements the Retriever protocol.  ``retrieve`` also honours
    ``RetrievalQuery.current_item``: a follow-up without item words of its own
    (那需要什么材料?) keeps the current item on top; one naming another item
    switches topic.

    Scores are numpy arrays over chunks and items, so a query costs a few
    vector operations however large the corpus: chunk -> item aggregation is
    one ``maximum.reduceat`` over chunks grouped by item, fusion is arithmetic
    on item arrays, and only the ``top_k`` items become Python objects.
    """

    def __init__(
        self,
        *,
        analyzer: Analyzer,
        embedder: Embedder,
        chunks: Sequence[Chunk],
        tokens: Sequence[Sequence[str]],
        vectors: np.ndarray,
        item_names: dict[str, str],
        params: RetrievalParams = RetrievalParams(),
        normalized: Sequence[str],
    ) -> None:
        if not len(chunks) == len(tokens) == len(vectors) == len(normalized):
            raise IndexNotBuilt(
                f"index is inconsistent ({len(chunks)} chunks, {len(tokens)} token rows, {len(vectors)} vectors, "
                f"{len(normalized)} normalised texts); "
                "rebuild with 'xiaoshen kb build'"
            )
        self.analyzer = analyzer
        self.embedder = embedder
        self.chunks = tuple(chunks)
        self.tokens = [list(t) for t in tokens]
        #: what each chunk embeds (``passage_texts``); ``vectors`` mixes in the name context
        self.passage_texts, context = passage_texts(self.chunks, item_names)
        self.passage_vectors = np.asarray(vectors, dtype=np.float32)
        # each chunk's normalised text, saved with the index so re-indexing can
        # tell which chunks contain a changed dictionary word without re-normalising
        self.normalized = list(normalized)
        self.vectors = compose_vectors(self.passage_vectors, context, params.name_context_weight)
        self.item_names = dict(item_names)
        self.params = params
        self.item_of = [c.item_id for c in self.chunks]
        self.bm25 = BM25().index(self.tokens, [c.weight for c in self.chunks])
        self.dense = DenseIndex(self.vectors)
        # the item table: items in order of first chunk; chunk -> item index
        self.item_ids: list[str] = list(dict.fromkeys(self.item_of))
        self._item_index = {item: n for n, item in enumerate(self.item_ids)}
        self._chunk_item = np.array([self._item_index[i] for i in self.item_of], dtype=np.int64)
        # chunks grouped by item (stable), so one reduceat takes every item's best chunk
        self._by_item = np.argsort(self._chunk_item, kind="stable")
        grouped = self._chunk_item[self._by_item]
        self._starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if len(grouped) else np.zeros(0, np.int64)
        self._item_chunks = np.split(self._by_item, self._starts[1:]) if len(grouped) else []
        # equal fused scores are ordered by item id, as a stable reading order
        self._id_rank = np.empty(len(self.item_ids), dtype=np.int64)
        self._id_rank[np.argsort(np.array(self.item_ids, dtype=object))] = np.arange(len(self.item_ids))
        # English answer fields serve English questions only: their vectors would
        # compete with the Chinese passages for a Chinese question's nearest chunks
        self._english_answer = np.array([c.field in ENGLISH_ANSWER_FIELDS for c in self.chunks], dtype=bool)
        self._name_tokens: dict[str, list[str]] = {}
        # tokens of names and aliases: the words that can name an item in a query
        self.item_vocab: dict[str, set[str]] = {}
        for c, toks in zip(self.chunks, self.tokens):
            if c.field in ("name", "name_en"):
                for t in toks:
                    if not is_generic(t):
                        self.item_vocab.setdefault(t, set()).add(c.item_id)

    # ------------------------------------------------------------------ components

    def analyze(self, text: str) -> tuple[str, list[str], list[TermMatch]]:
        """(normalised text, expanded query tokens, term matches) of a query."""
        # the analyzer's form: a variant word (过世) is the knowledge base's word (去世), for
        # the dense query too
        norm = self.analyzer.normalize(text)
        matches = self.analyzer.match_terms(norm, normalized=True)
        tokens = self.analyzer.tokens(norm, normalized=True)
        if says_nonlocal(norm):
            # 安徽户口 is what the items call 外地户口 / 非本市户籍
            tokens.extend(self.analyzer.tokens("外地户口 非本市户籍", normalized=True))
        for m in matches:
            if m.how != "exact":
                tokens.extend(self.analyzer.tokens(m.term, normalized=True))
            own = self.analyzer.terms.get(m.term, m.item_ids)
            if len(own) == 1:
                tokens.extend(self._item_name_tokens(own[0]))
        return norm, tokens, matches

    def _item_name_tokens(self, item_id: str) -> list[str]:
        if item_id not in self._name_tokens:
            self._name_tokens[item_id] = self.analyzer.tokens(self.item_names.get(item_id, ""))
        return self._name_tokens[item_id]

    def _best_per_item(self, chunk_scores: np.ndarray) -> np.ndarray:
        return group_max(chunk_scores, self._by_item, self._starts)

    def lexical(self, tokens: Sequence[str]) -> ItemScores:
        """Per item, the best weighted BM25 chunk score; present when positive and among the top chunks."""
        scores = self.bm25.scores(tokens)
        best = self._best_per_item(scores)
        n = len(scores)
        k = min(self.params.chunk_candidates, n)
        if k == 0:
            return ItemScores(best, np.zeros(len(best), dtype=bool), scores)
        # an item's best chunk is among the top k chunks iff it reaches the k-th score
        kth = np.partition(scores, n - k)[n - k]
        return ItemScores(best, (best > 0) & (best >= kth), scores)

    def dense_scores(self, dense_query: str, lang: str = "en") -> ItemScores:
        """Per item, the best chunk cosine among the ``chunk_candidates`` nearest chunks (one FAISS search).

        A Chinese question (``lang`` zh) does not see the English answer fields' passages.
        """
        qvec = self.embedder.embed_queries([dense_query])[0]
        if lang == "zh" and self._english_answer.any():
            scores, idx = self.dense.search(qvec, self.params.chunk_candidates + int(self._english_answer.sum()))
            keep = ~self._english_answer[idx]
            scores, idx = scores[keep][: self.params.chunk_candidates], idx[keep][: self.params.chunk_candidates]
        else:
            scores, idx = self.dense.search(qvec, self.params.chunk_candidates)
        chunk_scores = np.full(len(self.chunks), -np.inf, dtype=np.float32)
        chunk_scores[idx] = scores
        best = np.full(len(self.item_ids), -np.inf, dtype=np.float32)
        np.maximum.at(best, self._chunk_item[idx], scores)
        present = np.isfinite(best)
        return ItemScores(np.where(present, best, 0.0).astype(np.float32), present, chunk_scores)

    def _evidence(self, item: int, lex: ItemScores, dense: ItemScores) -> Chunk | None:
        """The chunk that shows why ``item`` ranked: its best lexical chunk, else its nearest passage."""
        own = self._item_chunks[item]
        if lex.present[item] and lex.scores[item] > 0:
            return self.chunks[int(own[np.argmax(lex.chunk_scores[own])])]
        if dense.present[item]:
            return self.chunks[int(own[np.argmax(dense.chunk_scores[own])])]
        return None

    # ------------------------------------------------------------------ retrieval

    def retrieve(self, query: RetrievalQuery, *, top_k: int = 10) -> list[Hit]:
        """The best ``top_k`` items for ``query``, each with its best chunk and score components."""
        if not query.text or not query.text.strip():
            raise InvalidInput("the query text is empty; send a question")
        p = self.params
        norm, tokens, matches = self.analyze(query.text)
        lex = self.lexical(tokens)
        fuzzy_terms = [m.term for m in matches if m.how != "exact"]
        dense = self.dense_scores(" ".join([norm, *fuzzy_terms]) if fuzzy_terms else norm, query.lang)
        if p.fusion == "rrf":
            fused = rrf_array(lex.scores, lex.present, k=p.rrf_k, weight=p.bm25_weight) + rrf_array(
                dense.scores, dense.present, k=p.rrf_k, weight=1 - p.bm25_weight
            )
            scale = 1.0 / (p.rrf_k + 1)  # boosts are relative to a rank-1 contribution
        else:
            fused = p.bm25_weight * minmax_array(lex.scores, lex.present) + (1 - p.bm25_weight) * minmax_array(
                dense.scores, dense.present
            )
            scale = 1.0
        candidate = lex.present | dense.present
        alias: dict[int, float] = {}
        for m in matches:
            boost = (p.alias_boost if m.how == "exact" else p.fuzzy_boost) / len(m.item_ids)
            for item_id in m.item_ids:
                i = self._item_index.get(item_id)
                if i is not None:
                    alias[i] = max(alias.get(i, 0.0), boost)
        for i, b in alias.items():
            fused[i] += b * scale
            candidate[i] = True
        context = 0.0
        # words of the query that can name an item (from names and aliases)
        naming = [t for t in tokens if not is_generic(t) and t in self.item_vocab]
        current = self._item_index.get(query.current_item) if query.current_item else None
        if current is not None:
            names_other = any(i != query.current_item for m in matches for i in m.item_ids) or any(
                query.current_item not in self.item_vocab[t] for t in naming
            )
            if not names_other:
                # a follow-up (那需要什么材料? / 网上能办吗): the conversation's item stays on top
                top = float(fused[candidate].max()) if candidate.any() else 0.0
                context = (max(top, 0.0) - (fused[current] if candidate[current] else 0.0)) + 1e-3 + p.context_boost * scale
            else:
                context = p.context_boost * scale
            fused[current] += context
            candidate[current] = True
        cand = np.flatnonzero(candidate)
        order = cand[np.lexsort((self._id_rank[cand], -fused[cand]))][:top_k]
        hits = []
        # the query's topic words (not field words or filler), to tell a message that
        # only names a topic (提取公积金要什么材料) from one that adds details
        content = dict.fromkeys(t for t in tokens if not is_generic(t))
        for i in order:
            i = int(i)
            chunk = self._evidence(i, lex, dense)
            name_terms = self._name_terms(self.item_ids[i], naming, matches)
            components = {
                "bm25": float(lex.scores[i]) if lex.present[i] else 0.0,
                "dense": float(dense.scores[i]) if dense.present[i] else 0.0,
                "alias": alias.get(i, 0.0),
                "fused": float(fused[i]),
                # topic words of the query that do not name this item
                "other_terms": float(sum(1 for t in content if t not in name_terms)),
            }
            if i == current and context:
                components["context"] = context
            hits.append(
                Hit(
                    item_id=self.item_ids[i],
                    score=float(fused[i]),
                    chunk_id=chunk.id if chunk else "",
                    field=chunk.field if chunk else "",
                    text=chunk.text if chunk else "",
                    components=components,
                    name_terms=name_terms,
                )
            )
        return hits

    def _name_terms(self, item_id: str, naming: Sequence[str], matches: Sequence[TermMatch]) -> tuple[str, ...]:
        """The query's words that name ``item_id``: name/alias tokens and whole aliases found."""
        terms = {t for t in naming if item_id in self.item_vocab[t]}
        terms.update(m.term for m in matches if item_id in m.item_ids)
        return tuple(sorted(terms))

    def _ranked(self, part: ItemScores, top_k: int) -> list[str]:
        idx = np.flatnonzero(part.present)
        order = idx[np.lexsort((self._id_rank[idx], -part.scores[idx]))][:top_k]
        return [self.item_ids[int(i)] for i in order]

    def retrieve_lexical(self, text: str, *, top_k: int = 10) -> list[str]:
        """Items by BM25 alone over the same analyzer (for benchmarks)."""
        _, tokens, _ = self.analyze(text)
        return self._ranked(self.lexical(tokens), top_k)

    def retrieve_dense(self, text: str, *, top_k: int = 10) -> list[str]:
        """Items by dense similarity alone (for benchmarks)."""
        return self._ranked(self.dense_scores(text), top_k)

    def load(self) -> None:
        """Load what a query needs (idempotent): the analyzer's jieba and pinyin and the
        query embedder's model, so the first query is as fast as the next."""
        self.analyzer.load_resources()
        load_embedder = getattr(self.embedder, "load", None)
        if callable(load_embedder):
            load_embedder()


# ---------------------------------------------------------------------- persistence


_CHUNK_FIELDS = tuple(f.name for f in dataclasses.fields(Chunk))


def _chunk_row(c: Chunk, normalized: str, tokens: Sequence[str]) -> str:
    # a flat dict by hand: dataclasses.asdict deep-copies every value (3 s for 12k chunks)
    row = {**{f: getattr(c, f) for f in _CHUNK_FIELDS}, "normalized": normalized, "tokens": list(tokens)}
    return json.dumps(row, ensure_ascii=False)


def save_index(index_dir: Path, retriever: HybridRetriever, *, item_hashes: dict[str, str]) -> None:
    """Write the index to ``index_dir`` atomically (a new folder swapped in)."""
    import faiss

    index_dir = Path(index_dir)
    tmp = index_dir.with_name(f".{index_dir.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    retriever.analyzer.save(tmp / "analyzer.json")
    with (tmp / "chunks.jsonl").open("w", encoding="utf-8") as f:
        for c, n, t in zip(retriever.chunks, retriever.normalized, retriever.tokens):
            f.write(_chunk_row(c, n, t) + "\n")
    np.save(tmp / "vectors.npy", retriever.passage_vectors)
    faiss.write_index(retriever.dense.index, str(tmp / "dense.faiss"))
    retriever.bm25.save(tmp / "bm25.npz")
    manifest = {
        "format": INDEX_FORMAT,
        "embedder": retriever.embedder.name,
        "dim": int(retriever.vectors.shape[1]) if retriever.vectors.ndim == 2 else 0,
        "items": item_hashes,
        "item_names": retriever.item_names,
        "chunks": len(retriever.chunks),
        "dense": retriever.dense.kind,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    old = index_dir.with_name(f".{index_dir.name}.old-{os.getpid()}")
    try:
        if index_dir.exists():
            index_dir.rename(old)
        tmp.rename(index_dir)
    except OSError:
        # another process saved the same index in between: its copy stands, ours goes
        if not index_dir.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class StoredIndex:
    """An index read from disk."""

    manifest: dict
    analyzer: Analyzer
    chunks: list[Chunk]
    tokens: list[list[str]]
    vectors: np.ndarray
    normalized: list[str]


def read_index(index_dir: Path) -> StoredIndex:
    """Read a saved index; raises IndexNotBuilt when missing or unreadable."""
    index_dir = Path(index_dir)
    manifest_path = index_dir / "manifest.json"
    if not manifest_path.is_file():
        raise IndexNotBuilt(f"no retrieval index in {index_dir}; build it with 'xiaoshen kb build'")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != INDEX_FORMAT:
            raise IndexNotBuilt(
                f"index {index_dir} has format {manifest.get('format')!r}, this code reads {INDEX_FORMAT}; "
                "rebuild with 'xiaoshen kb build'"
            )
        analyzer = Analyzer.load(index_dir / "analyzer.json")
        chunks, tokens, normalized = [], [], []
        with (index_dir / "chunks.jsonl").open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                tokens.append(row.pop("tokens"))
                normalized.append(row.pop("normalized"))
                chunks.append(Chunk(**row))
        vectors = np.load(index_dir / "vectors.npy")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IndexNotBuilt(f"cannot read the index in {index_dir}: {e}; rebuild with 'xiaoshen kb build'") from e
    return StoredIndex(manifest, analyzer, chunks, tokens, vectors, normalized)


def build_retriever(
    items: Sequence[ServiceItem],
    embedder: Embedder,
    settings: RetrievalSettings,
    index_dir: Path,
    *,
    progress: bool = False,
    params: RetrievalParams | None = None,
) -> HybridRetriever:
    """The retriever over exactly ``items`` (the caller passes live items).

    Loads the index in ``index_dir`` when its items, analyzer and embedder are
    unchanged; otherwise re-tokenizes and re-embeds only changed chunks and
    saves the result.  Embedding goes through the embedder's disk cache.
    """
    if not items:
        raise InvalidInput("no item to index; pass the live items of the knowledge base")
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise InvalidInput(f"duplicate item ids {dup[:5]}; every item must have a unique id")
    params = params or RetrievalParams.from_settings(settings)
    index_dir = Path(index_dir)
    analyzer = Analyzer.for_items(items)
    item_chunks = {i.id: chunk_item(i) for i in items}  # chunked once: for the hashes and the index
    hashes = {i.id: item_hash(i, item_chunks[i.id]) for i in items}
    names = {i.id: i.name for i in items}

    stored: StoredIndex | None = None
    try:
        stored = read_index(index_dir)
    except IndexNotBuilt as e:
        if (index_dir / "manifest.json").exists():
            log.warning("rebuilding the index: %s", e)
    same_vocab = stored is not None and stored.analyzer.fingerprint() == analyzer.fingerprint()
    same_embedder = stored is not None and stored.manifest.get("embedder") == embedder.name
    if stored is not None and same_vocab and same_embedder and stored.manifest.get("items") == hashes:
        retriever = HybridRetriever(
            analyzer=stored.analyzer,
            embedder=embedder,
            chunks=stored.chunks,
            tokens=stored.tokens,
            vectors=stored.vectors,
            item_names=names,
            params=params,
            normalized=stored.normalized,
        )
        retriever.load()
        return retriever

    # reuse what is unchanged: tokens and vectors (same embedder and text).  A
    # text's tokens depend only on the dictionary words it contains
    # (Analyzer.dictionary_words), so after a rename or a changed alias only
    # the texts holding an added or removed word are tokenized again.
    old_tokens: dict[str, tuple[str, list[str]]] = {}
    old_vectors: dict[str, np.ndarray] = {}
    if stored is not None:
        old_texts, _ = passage_texts(stored.chunks, stored.manifest.get("item_names", {}))
        reuse_tokens = stored.analyzer.same_tokenization_rules(analyzer)
        changed_words = analyzer.dictionary_change(stored.analyzer)
        for c, n, t, v, text in zip(stored.chunks, stored.normalized, stored.tokens, stored.vectors, old_texts):
            if reuse_tokens and (changed_words is None or not changed_words.search(n)):
                old_tokens[c.text] = (n, t)
            if same_embedder:
                old_vectors[text] = v
    chunks: list[Chunk] = [c for item in items for c in item_chunks[item.id]]
    normalized: list[str] = []
    tokens: list[list[str]] = []
    for c in chunks:
        if c.text in old_tokens:
            n, t = old_tokens[c.text]
        else:
            n = analyzer.normalize(c.text)
            t = analyzer.tokens(n, normalized=True)
        normalized.append(n)
        tokens.append(t)
    texts, _ = passage_texts(chunks, names)
    todo = sorted({t for t in texts if t not in old_vectors})
    fresh: dict[str, np.ndarray] = {}
    if todo:
        batch = 64
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="embedding chunks", unit="chunk")
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            for t, v in zip(part, embedder.embed_passages(part)):
                fresh[t] = v
            if bar is not None:
                bar.update(len(part))
        if bar is not None:
            bar.close()
    vectors = np.vstack([old_vectors[t] if t in old_vectors else fresh[t] for t in texts]).astype(np.float32)
    retriever = HybridRetriever(
        analyzer=analyzer,
        embedder=embedder,
        chunks=chunks,
        tokens=tokens,
        vectors=vectors,
        item_names=names,
        params=params,
        normalized=normalized,
    )
    save_index(index_dir, retriever, item_hashes=hashes)
    retriever.load()
    return retriever


def open_retriever(
    items: Sequence[ServiceItem],
    embedder: Embedder,
    settings: RetrievalSettings,
    index_dir: Path,
    *,
    params: RetrievalParams | None = None,
) -> HybridRetriever:
    """The retriever over the index saved in ``index_dir``, read-only.

    The index must have been built from exactly ``items`` with ``embedder`` (the
    versioned artefact a server loads, ``assistant.artefact``): anything else raises
    IndexNotBuilt; nothing is re-embedded or written.
    """
    stored = read_index(index_dir)
    hashes = {i.id: item_hash(i, chunk_item(i)) for i in items}
    if stored.manifest.get("items") != hashes:
        changed = sorted(set(hashes.items()) ^ set(dict(stored.manifest.get("items", {})).items()))
        raise IndexNotBuilt(
            f"the index in {index_dir} was built from other items (first differences: "
            f"{sorted({k for k, _ in changed})[:5]}); rebuild the artefact with 'xiaoshen kb build'"
        )
    if stored.manifest.get("embedder") != embedder.name:
        raise IndexNotBuilt(
            f"the index in {index_dir} was embedded with {stored.manifest.get('embedder')!r}, "
            f"this server embeds queries with {embedder.name!r}; rebuild it or configure that embedder"
        )
    retriever = HybridRetriever(
        analyzer=stored.analyzer,
        embedder=embedder,
        chunks=stored.chunks,
        tokens=stored.tokens,
        vectors=stored.vectors,
        item_names={i.id: i.name for i in items},
        params=params or RetrievalParams.from_settings(settings),
        normalized=stored.normalized,
    )
    retriever.load()
    return retriever
