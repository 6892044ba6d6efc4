"""Ranking metrics (HR, NDCG, MRR at K) under full ranking, and buy-head classification metrics.

Ranks are 0-based: rank 0 is the top of the list. A target that is itself excluded (a repeat
of a history item under history exclusion) is a miss. Ties between the target and other
items are resolved by ``ties``:

- ``"index"`` (default): tied items keep row order, lower rows first, as a stable sort of
  descending scores does (the reference implementations' behaviour; it reproduces the
  published popularity figures on Beauty exactly).
- ``"pessimistic"``: the target is ranked below every item with an equal score; a model that
  scores everything the same gets nothing.
- ``"optimistic"``: the target is ranked above them.
- ``"average"``: the expectation over a uniformly random order of the tied items.

The classification metrics are computed with numpy (no scikit-learn dependency): AUC is the
Mann-Whitney statistic with ties counted as one half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Ties = Literal["index", "pessimistic", "optimistic", "average"]
TIES: tuple[str, ...] = ("index", "pessimistic", "optimistic", "average")
KS: tuple[int, ...] = (5, 10, 20)
MISS = np.iinfo(np.int64).max // 4  # rank of an excluded target


@dataclass
class Ranks:
    """Per example: items scored above the target, tied with it, and tied at lower rows."""

    better: np.ndarray
    tied: np.ndarray
    tied_before: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Ranks]) -> Ranks:
        """Join batches."""
        return cls(
            np.concatenate([p.better for p in parts]),
            np.concatenate([p.tied for p in parts]),
            np.concatenate([p.tied_before for p in parts]),
        )


def target_ranks(
    scores: np.ndarray, targets: np.ndarray, exclude: np.ndarray | None = None
) -> Ranks:
    """Where each target lands in ``scores (B, N)``.

    ``exclude (B, N)`` bool marks items that are never ranked (history, padding, unknown).
    An excluded target gets ``MISS`` as its ``better`` count.
    """
    scores = np.asarray(scores)
    rows = np.arange(len(targets))
    target_score = scores[rows, targets][:, None]
    valid = np.ones_like(scores, dtype=bool) if exclude is None else ~exclude
    better = ((scores > target_score) & valid).sum(axis=1)
    same = (scores == target_score) & valid
    tied = np.maximum(same.sum(axis=1) - 1, 0)
    before = (same & (np.arange(scores.shape[1])[None, :] < targets[:, None])).sum(axis=1)
    if exclude is not None:
        hit_excluded = exclude[rows, targets]
        better = np.where(hit_excluded, MISS, better)
        tied = np.where(hit_excluded, 0, tied)
        before = np.where(hit_excluded, 0, before)
    return Ranks(better.astype(np.int64), tied.astype(np.int64), before.astype(np.int64))


def _at(rank: np.ndarray, value_at: np.ndarray) -> np.ndarray:
    k = len(value_at)
    found: np.ndarray = np.where(rank < k, value_at[np.minimum(rank, k - 1)], 0.0)
    return found


def _expected(ranks: Ranks, ties: Ties, value_at: np.ndarray) -> np.ndarray:
    """Metric value per example from a per-rank table ``value_at`` (0 beyond its end)."""
    if ties == "index":
        return _at(ranks.better + ranks.tied_before, value_at)
    if ties == "optimistic":
        return _at(ranks.better, value_at)
    if ties == "pessimistic":
        return _at(ranks.better + ranks.tied, value_at)
    # Average over ranks better .. better+tied: prefix sums of the table give it exactly.
    k = len(value_at)
    prefix = np.concatenate([[0.0], np.cumsum(value_at)])
    lo = np.minimum(ranks.better, k)
    hi = np.minimum(ranks.better + ranks.tied + 1, k)
    mean: np.ndarray = (prefix[hi] - prefix[lo]) / (ranks.tied + 1)
    return mean


def ranking_metrics(ranks: Ranks, ks: Sequence[int] = KS, ties: Ties = "index") -> dict[str, float]:
    """Mean ``HR@K``, ``NDCG@K`` and ``MRR@K`` over examples, from :func:`target_ranks`."""
    out: dict[str, float] = {}
    n = max(len(ranks.better), 1)
    for k in ks:
        positions = np.arange(k, dtype=np.float64)
        tables = {
            "HR": np.ones(k),
            "NDCG": 1.0 / np.log2(positions + 2.0),
            "MRR": 1.0 / (positions + 1.0),
        }
        for name, table in tables.items():
            out[f"{name}@{k}"] = float(_expected(ranks, ties, table).sum() / n)
    return out


def binary_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """AUC, accuracy, precision, recall and F1 of probabilities against 0/1 labels."""
    y = np.asarray(labels).astype(bool)
    p = np.asarray(probabilities, dtype=np.float64)
    pred = p >= threshold
    tp = float(np.sum(pred & y))
    fp = float(np.sum(pred & ~y))
    fn = float(np.sum(~pred & y))
    n = max(len(y), 1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "AUC": auc(y, p),
        "accuracy": float(np.sum(pred == y)) / n,
        "precision": precision,
        "recall": recall,
        "F1": f1,
        "positive_rate": float(y.mean()) if len(y) else 0.0,
    }


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with midranks); NaN with one class only."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Midranks: every run of equal scores gets the mean of its 1-based positions.
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts).astype(np.float64)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
