"""Fusion of rankings and aggregation of chunk scores to items: pure functions."""

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
