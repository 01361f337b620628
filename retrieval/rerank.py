"""Rerankers: a light learned feature reranker and a sentence-transformers CrossEncoder.

The feature reranker is logistic regression over cheap features of each hit
(BM25, dense, alias hit, fused score, rank, title overlap, whether the item
has the field the intent asks for).  ``train_feature_reranker`` fits it on
development queries and writes ``reranker.json`` next to the index; the
retrieval settings turn it on (``reranker = "features"``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assistant.core.errors import BackendUnavailable, ConfigError, IndexNotBuilt
from assistant.core.types import INTENT_FIELDS, Hit, RetrievalQuery, Retriever

ARTEFACT = "reranker.json"
FEATURES: tuple[str, ...] = (
    "bm25_rel",
    "dense",
    "dense_gap",
    "alias",
    "fused_rel",
    "inv_rank",
    "title_overlap",
    "has_field",
    "context",
)


@dataclass(frozen=True)
class ItemInfo:
    """What the feature reranker knows of an item: its name and indexed fields."""

    name: str
    fields: frozenset[str]


def read_item_info(index_dir: Path) -> dict[str, ItemInfo]:
    """Item names and fields from the chunk table of a built index."""
    path = Path(index_dir) / "chunks.jsonl"
    manifest = Path(index_dir) / "manifest.json"
    if not path.is_file() or not manifest.is_file():
        raise IndexNotBuilt(f"no retrieval index in {index_dir}; build it with 'xiaoshen kb build' first")
    names = json.loads(manifest.read_text(encoding="utf-8")).get("item_names", {})
    fields: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            fields.setdefault(row["item_id"], set()).add(row["field"])
    return {i: ItemInfo(names.get(i, ""), frozenset(fs)) for i, fs in fields.items()}


def _overlap(query: str, name: str) -> float:
    q = {query[i : i + 2] for i in range(len(query) - 1)}
    n = {name[i : i + 2] for i in range(len(name) - 1)}
    return len(q & n) / len(n) if n else 0.0


def hit_features(query: RetrievalQuery, hits: Sequence[Hit], info: dict[str, ItemInfo]) -> np.ndarray:
    """One feature row per hit, in ``FEATURES`` order."""
    if not hits:
        return np.zeros((0, len(FEATURES)))
    bm = [h.components.get("bm25", 0.0) for h in hits]
    dn = [h.components.get("dense", 0.0) for h in hits]
    fu = [h.components.get("fused", h.score) for h in hits]
    bm_max, fu_max, dn_max = max(bm) or 1.0, max(fu) or 1.0, max(dn)
    wanted = INTENT_FIELDS.get(query.intent, ())
    rows = []
    for rank, (h, b, d, f) in enumerate(zip(hits, bm, dn, fu), start=1):
        item = info.get(h.item_id, ItemInfo("", frozenset()))
        has_field = 1.0 if not wanted else float(any(w in item.fields for w in wanted))
        rows.append(
            [
                b / bm_max,
                d,
                d - dn_max,
                h.components.get("alias", 0.0),
                f / fu_max,
                1.0 / rank,
                _overlap(query.text, item.name),
                has_field,
                1.0 if h.components.get("context") else 0.0,
            ]
        )
    return np.asarray(rows, dtype=np.float64)


class FeatureReranker:
    """Logistic regression over :data:`FEATURES`; weights read from ``reranker.json``."""

    name = "features"

    def __init__(self, weights: Sequence[float], bias: float, info: dict[str, ItemInfo]) -> None:
        if len(weights) != len(FEATURES):
            raise ConfigError(f"reranker has {len(weights)} weights, expected {len(FEATURES)}; retrain it")
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)
        self.info = info

    @classmethod
    def load(cls, index_dir: Path) -> FeatureReranker:
        """The reranker trained for the index in ``index_dir``."""
        path = Path(index_dir) / ARTEFACT
        if not path.is_file():
            raise BackendUnavailable(
                f"reranker 'features' needs {path}; train it with "
                "'python -m retrieval.cli train-reranker' or set XS_RETRIEVAL__RERANKER=none"
            )
        raw = json.loads(path.read_text(encoding="utf-8"))
        if tuple(raw.get("features", ())) != FEATURES:
            raise BackendUnavailable(f"{path} was trained on other features; retrain it")
        return cls(raw["weights"], raw["bias"], read_item_info(index_dir))

    def rerank(self, query: RetrievalQuery, hits: Sequence[Hit], *, top_k: int = 10) -> list[Hit]:
        """Hits reordered by the model's probability; ``rerank`` joins the components."""
        if not hits:
            return []
        x = hit_features(query, hits, self.info)
        p = 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))
        order = sorted(range(len(hits)), key=lambda i: (-p[i], i))[:top_k]
        return [replace(hits[i], score=float(p[i]), components={**hits[i].components, "rerank": float(p[i])}) for i in order]


def train_feature_reranker(
    retriever: Retriever,
    examples: Iterable[tuple[RetrievalQuery, Sequence[str]]],
    index_dir: Path,
    *,
    depth: int = 20,
    c: float = 1.0,
) -> dict[str, object]:
    """Fit the feature reranker on (query, acceptable item ids) pairs and save it.

    Returns the saved artefact (weights, bias, number of examples).
    """
    from sklearn.linear_model import LogisticRegression

    info = read_item_info(index_dir)
    xs, ys = [], []
    n = 0
    for query, gold in examples:
        hits = retriever.retrieve(query, top_k=depth)
        if not hits:
            continue
        n += 1
        xs.append(hit_features(query, hits, info))
        ys.extend(1 if h.item_id in gold else 0 for h in hits)
    if not xs or len(set(ys)) < 2:
        raise ConfigError("the reranker needs queries whose expected item is retrieved and some that are not; add examples")
    model = LogisticRegression(C=c, max_iter=1000, class_weight="balanced")
    model.fit(np.vstack(xs), np.asarray(ys))
    artefact = {
        "features": list(FEATURES),
        "weights": [float(w) for w in model.coef_[0]],
        "bias": float(model.intercept_[0]),
        "queries": n,
        "depth": depth,
    }
    (Path(index_dir) / ARTEFACT).write_text(json.dumps(artefact, indent=1), encoding="utf-8")
    return artefact


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder from a local folder (e.g. bge-reranker)."""

    name = "cross-encoder"

    def __init__(self, model_path: Path, texts: dict[str, str]) -> None:
        if not Path(model_path).is_dir():
            raise ConfigError(
                f"cross-encoder folder {str(model_path)!r} does not exist; set XS_RETRIEVAL__RERANKER_MODEL_PATH "
                "to a local model folder (nothing is downloaded)"
            )
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as e:
            raise BackendUnavailable("the cross-encoder reranker needs sentence-transformers; pip install it") from e
        try:
            self.model = CrossEncoder(str(model_path), device="cpu", local_files_only=True)
        except Exception as e:  # a broken model folder is a configuration error
            raise BackendUnavailable(f"cannot load the cross-encoder at {model_path}: {e}") from e
        self.texts = texts

    def rerank(self, query: RetrievalQuery, hits: Sequence[Hit], *, top_k: int = 10) -> list[Hit]:
        """Hits reordered by the cross-encoder's score of (query, item name + best chunk)."""
        if not hits:
            return []
        pairs = [(query.text, f"{self.texts.get(h.item_id, '')}：{h.text}") for h in hits]
        scores = np.asarray(self.model.predict(pairs, show_progress_bar=False), dtype=np.float64).reshape(-1)
        order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))[:top_k]
        return [
            replace(hits[i], score=float(scores[i]), components={**hits[i].components, "rerank": float(scores[i])})
            for i in order
        ]
