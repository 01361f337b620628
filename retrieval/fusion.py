"""Fusion of rankings and aggregation of chunk scores to items: pure functions.

The dict versions (``rrf``, ``weighted``, ``aggregate_max``) state the rules
plainly; the array versions (``rrf_array``, ``minmax_array``, ``group_max``)
apply the same rules to score vectors over a whole item table, which is what
the retriever runs per query (a test checks both agree on the golden file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def aggregate_max(item_of: Sequence[str], scores: np.ndarray, candidates: np.ndarray) -> dict[str, tuple[float, int]]:
    """Per item, the best score among ``candidates`` (chunk indexes) and its chunk."""
    best: dict[str, tuple[float, int]] = {}
    for j in candidates:
        j = int(j)
        s = float(scores[j])
        item = item_of[j]
        if item not in best or s > best[item][0]:
            best[item] = (s, j)
    return best


def rrf(rankings: Sequence[Sequence[str]], *, k: int = 60, weights: Sequence[float] | None = None) -> dict[str, float]:
    """Reciprocal-rank fusion: sum of ``w / (k + rank)`` (rank from 1) over rankings."""
    w = weights or [1.0] * len(rankings)
    fused: dict[str, float] = {}
    for weight, ranking in zip(w, rankings):
        for r, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + r)
    return fused


def minmax(scores: Mapping[str, float]) -> dict[str, float]:
    """Scores scaled to [0, 1]; all-equal scores become 1 (present) rather than 0/0."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo <= 1e-12:
        return {k: 1.0 for k in scores}
    return {k: (v - lo) / (hi - lo) for k, v in scores.items()}


def weighted(parts: Sequence[Mapping[str, float]], weights: Sequence[float]) -> dict[str, float]:
    """Weighted sum of min-max normalised scores; a key missing from a part scores 0 there."""
    fused: dict[str, float] = {}
    for part, w in zip(parts, weights):
        for key, v in minmax(part).items():
            fused[key] = fused.get(key, 0.0) + w * v
    return fused


def group_max(scores: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group, the max of ``scores``; ``scores[order]`` lists the groups one after another, each from ``starts[g]``."""
    if not len(starts):
        return np.zeros(0, dtype=scores.dtype)
    return np.maximum.reduceat(scores[order], starts)


def minmax_array(scores: np.ndarray, present: np.ndarray) -> np.ndarray:
    """:func:`minmax` over the ``present`` entries of ``scores``; absent entries are 0."""
    out = np.zeros(len(scores), dtype=np.float64)
    if not present.any():
        return out
    vals = scores[present].astype(np.float64)
    lo, hi = vals.min(), vals.max()
    out[present] = 1.0 if hi - lo <= 1e-12 else (vals - lo) / (hi - lo)
    return out


def rrf_array(scores: np.ndarray, present: np.ndarray, *, k: int, weight: float) -> np.ndarray:
    """One ranking's :func:`rrf` term, ``weight / (k + rank)``, for the ``present`` entries ranked by score."""
    out = np.zeros(len(scores), dtype=np.float64)
    idx = np.flatnonzero(present)
    ranked = idx[np.argsort(-scores[idx], kind="stable")]
    out[ranked] = weight / (k + np.arange(1, len(ranked) + 1))
    return out
