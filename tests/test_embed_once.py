"""A message is embedded once per turn: the intent model and the retriever hand the
embedder the same normalised text, so the query cache serves the second caller.

Real stages through the real dialogue path: a TrainedClassifier trained on the
tiny knowledge base with a counting fake embedder, the HybridRetriever built
over it, and the DialogueEngine.  Only the embedder is fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.core.settings import RetrievalSettings
from assistant.core.text import normalize
from assistant.core.types import DialogueState, RetrievalQuery
from assistant.dialogue.engine import DialogueEngine
from assistant.dialogue.policy import ActionPolicy, PolicyThresholds
from assistant.generators.composer import Composer
from intents.trained import TrainedClassifier, train
from retrieval.embedders import CachedEmbedder
from retrieval.hybrid import build_retriever
from tests.fakes import RecordingEmbedder, tiny_items

#: Long, and everything on which the classifier's and the retriever's
#: normalisers used to differ: traditional characters, full-width letters and
#: digits, Chinese numerals before units, newlines and runs of spaces.
LONG_MESSAGE = (
    "您好，我想問一下：\n\n我在上海工作已經三年了，護照  十五日內就要到期，"
    "換發需要帶什麼材料？ＡＰＰ上能不能辦？\t我還有２個孩子在讀書，"
    "他們的居住登記要不要一起辦？麻煩詳細說明一下流程和時限，謝謝！"
)
#: Known exception (not tested here as a promise): a message that writes a name
#: whose miswritten alias sounds the same (居住证 / alias 居主证) gets that alias
#: appended to the retriever's dense query (retrieval.hybrid.HybridRetriever.retrieve),
#: so it is still embedded twice; see README, "Refusals on real attack prompts".


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp: Path = tmp_path_factory.mktemp("embed-once")
    inner = RecordingEmbedder()
    embedder = CachedEmbedder(inner, None, query_cache_size=64)
    items = tiny_items()
    retriever = build_retriever(items, embedder, RetrievalSettings(), tmp / "kb")
    model = tmp / "intent.joblib"
    train(items, model, embedder=embedder, benchmark=None, cv_folds=2, per_pattern=1)
    classifier = TrainedClassifier(model, embedder=embedder).load()
    engine = DialogueEngine(
        classifier=classifier,
        retriever=retriever,
        reranker=None,
        generator=Composer(),
        policy=ActionPolicy(PolicyThresholds()),
        items={i.id: i for i in items},
    )
    return engine, embedder, inner


def test_a_long_message_is_embedded_once_per_turn(stages) -> None:  # type: ignore[no-untyped-def]
    engine, embedder, inner = stages
    embedder.clear_query_cache()
    before_texts, before_hits = len(inner.query_texts), embedder.query_hits
    result = engine.turn(LONG_MESSAGE, DialogueState(), ())
    assert result.intent.label  # the turn went through classification and retrieval
    assert "intent" in result.timings_ms and "retrieval" in result.timings_ms
    sent = inner.query_texts[before_texts:]
    # one text reached the model, and it is the shared normal form of the message
    assert sent == [normalize(LONG_MESSAGE)]
    # the second caller (the retriever) was served by the query cache
    assert embedder.query_hits - before_hits == 1


def test_the_classifier_and_the_retriever_embed_the_same_text(stages) -> None:  # type: ignore[no-untyped-def]
    engine, embedder, inner = stages
    for message in ("護照　怎麼辦？", "办营业执照要多少钱", "居住登记要十五天吗  "):
        embedder.clear_query_cache()
        start = len(inner.query_texts)
        engine.classifier.classify(message)
        engine.retriever.retrieve(RetrievalQuery(text=message))
        assert inner.query_texts[start:] == [normalize(message)]
