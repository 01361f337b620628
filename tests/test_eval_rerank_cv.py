"""The cross-validated reranker trial: out-of-fold scoring and features on the tiny KB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.core.errors import InvalidInput
from assistant.core.settings import RetrievalSettings
from assistant.core.types import RetrievalQuery
from retrieval.hybrid import build_retriever
from eval.rerank_cv import COLUMNS, GAP_COLUMNS, PairFeatures, grouped_cv, reciprocal_rank
from tests.fakes import KeywordEmbedder, tiny_items


def test_reciprocal_rank_by_hand() -> None:
    labels = np.array([0, 0, 1, 0])
    assert reciprocal_rank(labels, np.array([0, 1, 2, 3])) == pytest.approx(1 / 3)
    assert reciprocal_rank(labels, np.array([2, 0, 1, 3])) == 1.0
    assert reciprocal_rank(labels, np.array([0, 1, 3, 2]), k=3) == 0.0


class _Memorizer:
    """Scores a row 1 if it was trained on as relevant: perfect on seen questions, blind otherwise."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Memorizer:
        self.seen = {tuple(r) for r, label in zip(x, y) if label}
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.array([1.0 if tuple(r) in self.seen else 0.0 for r in x])
        return np.c_[1 - p, p]


def test_grouped_cv_never_scores_a_question_with_a_model_that_saw_its_group() -> None:
    # each group's questions share one distinctive relevant row; a memorizing
    # model would rank them first if the group leaked into its training folds
    rows, labels, groups = [], [], []
    for g in range(6):
        for _ in range(2):
            rows.append(np.array([[0.0, 0.0], [float(g + 1), 1.0]]))  # the relevant row second
            labels.append(np.array([0, 1]))
            groups.append(f"answer-{g}")
    rr = grouped_cv(rows, labels, groups, _Memorizer, folds=3)
    np.testing.assert_array_equal(rr, np.full(12, 0.5))  # never first: nothing leaked
    with pytest.raises(InvalidInput):
        grouped_cv(rows, labels, groups, _Memorizer, folds=7)


def test_pair_features_one_finite_row_per_hit(tmp_path: Path) -> None:
    items = tiny_items()
    r = build_retriever(items, KeywordEmbedder(), RetrievalSettings(), tmp_path / "kb")
    features = PairFeatures(r, items)
    hits = r.retrieve(RetrievalQuery("办护照要多少钱"), top_k=5)
    x = features.rows("办护照要多少钱", hits)
    assert x.shape == (len(hits), len(COLUMNS) + len(GAP_COLUMNS)) and len(hits) == 5
    assert np.isfinite(x).all()
    # the money cue fires for a money question exactly on the answers that carry a price or fee
    money = COLUMNS.index("cue_money")
    expected = [float("money" in features.texts[h.item_id].cues) for h in hits]
    assert x[:, money].tolist() == expected
    assert not features.rows("护照在哪里办", hits)[:, money].any()  # a place question is not about money
    # gap columns: the list's best candidate has gap 0
    sim = len(COLUMNS) + GAP_COLUMNS.index("name_sim")
    assert x[:, sim].max() == 0.0 and np.allclose(x[:, sim], x[:, COLUMNS.index("name_sim")] - x[:, COLUMNS.index("name_sim")].max())
