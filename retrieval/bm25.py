"""BM25 (Okapi) over pre-tokenized documents, as one sparse matrix.

Scores are exactly rank_bm25's ``BM25Okapi`` (same idf with the epsilon floor
for terms in more than half the documents; a differential test checks it),
but a query costs one sparse row sum instead of a Python loop over documents:
~100x faster than rank_bm25 at a few thousand chunks.  bm25s does the same
trick but loses its vocabulary on reload unless saved separately and applies
no per-document weights; owning these ~60 lines keeps the vocabulary, the
field weights and the persistence in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp


class BM25:
    """Okapi BM25 with k1, b and epsilon as rank_bm25; optional per-document weights."""

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> None:
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.vocab: dict[str, int] = {}
        self.matrix: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)  # terms x docs
        self.n_docs = 0

    def index(self, docs: Sequence[Sequence[str]], weights: Sequence[float] | None = None) -> BM25:
        """Build the term-document score matrix; ``weights`` multiply each document's scores."""
        n = len(docs)
        self.n_docs = n
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        avgdl = float(lengths.mean()) if n and lengths.sum() else 1.0
        vocab: dict[str, int] = {}
        # one pass over the tokens in Python, the rest on arrays: term frequencies
        # are the duplicates a COO matrix sums when converted to CSR
        term_ids = np.fromiter((vocab.setdefault(t, len(vocab)) for d in docs for t in d), dtype=np.int64)
        doc_ids = np.repeat(np.arange(n, dtype=np.int64), lengths.astype(np.int64))
        tf = sp.coo_matrix(
            (np.ones(len(term_ids), dtype=np.float64), (term_ids, doc_ids)), shape=(len(vocab), n)
        ).tocsr()
        tf.sum_duplicates()
        df = np.diff(tf.indptr).astype(np.float64)  # documents per term
        # rank_bm25's BM25Okapi idf: log((N - n + .5) / (n + .5)), negatives -> eps * mean idf
        idf = np.log(n - df + 0.5) - np.log(df + 0.5)
        floor = self.epsilon * float(idf.mean()) if len(idf) else 0.0
        idf = np.where(idf >= 0, idf, floor)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        rows = np.repeat(np.arange(len(vocab)), np.diff(tf.indptr))
        cols = tf.indices
        freq = tf.data
        denom_base = self.k1 * (1 - self.b + self.b * lengths / avgdl)
        vals = w[cols] * idf[rows] * freq * (self.k1 + 1) / (freq + denom_base[cols])
        self.vocab = vocab
        self.matrix = sp.csr_matrix((vals.astype(np.float32), tf.indices.copy(), tf.indptr.copy()), shape=(len(vocab), n))
        return self

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """Scores of every document for ``query`` tokens (repeats count, as in rank_bm25)."""
        ids = [self.vocab[t] for t in query if t in self.vocab]
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        # the rows' nonzeros straight from the CSR arrays, summed by bincount:
        # scipy's row indexing builds a new matrix per query, ~10x slower
        m = self.matrix
        bounds = [(m.indptr[i], m.indptr[i + 1]) for i in ids]
        docs = np.concatenate([m.indices[a:b] for a, b in bounds])
        vals = np.concatenate([m.data[a:b] for a, b in bounds])
        return np.bincount(docs, weights=vals, minlength=self.n_docs).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the matrix and the vocabulary (in id order) to one .npz file."""
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        m = self.matrix.tocsr()
        np.savez(
            path,
            data=m.data,
            indices=m.indices,
            indptr=m.indptr,
            shape=np.array(m.shape),
            terms=np.array(terms, dtype=object),
            params=np.array([self.k1, self.b, self.epsilon]),
        )

    @classmethod
    def load(cls, path: Path) -> BM25:
        """Read a matrix written by :meth:`save`."""
        z = np.load(path, allow_pickle=True)
        k1, b, eps = (float(x) for x in z["params"])
        bm = cls(k1, b, eps)
        shape = tuple(int(x) for x in z["shape"])
        bm.matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
        bm.vocab = {str(t): i for i, t in enumerate(z["terms"])}
        bm.n_docs = shape[1]
        return bm
