"""LangChain adapters, kept at the edge.

- :class:`XiaoShenRetriever`: any Xiao Shen ``Retriever`` as a
  ``langchain_core`` ``BaseRetriever``, so LangChain users can plug our hybrid
  retriever into their chains; each Document is an item's best chunk with the
  item id, field and score components in its metadata.
- :class:`EmbeddingsAdapter`: our ``Embedder`` as LangChain ``Embeddings``.
- :func:`ensemble_baseline`: LangChain's own EnsembleRetriever (BM25Retriever
  + FAISS vector store), the peer ``xiaoshen bench retrieval`` measures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.core.types import Chunk, Embedder, RetrievalQuery, Retriever


class XiaoShenRetriever(BaseRetriever):
    """A LangChain retriever over a Xiao Shen Retriever.

    >>> lc = XiaoShenRetriever(retriever=hybrid, k=5)
    >>> docs = lc.invoke("居住证怎么办理")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any
    k: int = 5
    lang: str = "zh"
    #: item the conversation is about, for follow-up questions.
    current_item: str = ""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        r: Retriever = self.retriever
        hits = r.retrieve(RetrievalQuery(query, lang=self.lang, current_item=self.current_item), top_k=self.k)  # type: ignore[arg-type]
        return [
            Document(
                page_content=h.text,
                metadata={
                    "item_id": h.item_id,
                    "chunk_id": h.chunk_id,
                    "field": h.field,
                    "score": h.score,
                    **{f"score_{k}": v for k, v in h.components.items()},
                },
            )
            for h in hits
        ]


class EmbeddingsAdapter(Embeddings):
    """Our Embedder (query/passage aware, cached) as LangChain Embeddings."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passage vectors."""
        return self.embedder.embed_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Query vector."""
        return self.embedder.embed_queries([text])[0].tolist()


def ensemble_baseline(
    chunks: Sequence[Chunk],
    texts: Sequence[str],
    vectors: np.ndarray,
    embedder: Embedder,
    *,
    tokenizer: Callable[[str], list[str]],
    k: int = 50,
    weights: tuple[float, float] = (0.3, 0.7),
):
    """LangChain's EnsembleRetriever over BM25Retriever and a FAISS store of ``texts``.

    ``vectors`` are the passages' embeddings (from our cache, so the peer pays
    no model time at build); the FAISS store uses inner product on them, as ours.
    """
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    metas = [{"item_id": c.item_id, "chunk_id": c.id} for c in chunks]
    bm25 = BM25Retriever.from_texts(list(texts), metadatas=metas, preprocess_func=tokenizer, k=k)
    store = FAISS.from_embeddings(
        list(zip(texts, vectors.tolist())),
        EmbeddingsAdapter(embedder),
        metadatas=metas,
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )
    dense = store.as_retriever(search_kwargs={"k": k})
    return EnsembleRetriever(retrievers=[bm25, dense], weights=list(weights))
