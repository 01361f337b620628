"""Retrieval: analyzer, embedders, BM25 + FAISS hybrid ranked by item, rerankers.

The three factories called by ``assistant.wiring`` are re-exported here; the
heavy modules (faiss, jieba, torch) load only when a factory is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assistant.core.settings import EmbedderSettings, RetrievalSettings
    from assistant.core.types import Embedder, Reranker, ServiceItem
    from retrieval.hybrid import HybridRetriever

__all__ = ["make_embedder", "build_retriever", "make_reranker"]


def make_embedder(settings: EmbedderSettings, cache_dir: Path) -> Embedder:
    """The configured embedder behind the disk embedding cache (see ``retrieval.embedders``)."""
    from retrieval.embedders import make_embedder as _make

    return _make(settings, cache_dir)


def build_retriever(
    items: Sequence[ServiceItem],
    embedder: Embedder,
    settings: RetrievalSettings,
    index_dir: Path,
    *,
    progress: bool = False,
) -> HybridRetriever:
    """The hybrid retriever over ``items``, loading or incrementally updating ``index_dir``."""
    from retrieval.hybrid import build_retriever as _build

    return _build(items, embedder, settings, index_dir, progress=progress)


def make_reranker(settings: RetrievalSettings, index_dir: Path) -> Reranker | None:
    """The configured reranker, or None for ``none`` (see ``retrieval.rerank``)."""
    from retrieval.rerank import make_reranker as _make

    return _make(settings, index_dir)
