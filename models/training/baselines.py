"""Non-neural baselines in the same harness: popularity and item-to-item co-occurrence.

Both count only the events before the evaluated targets (``split.fit_lengths(which)``): the
training part for validation; training plus validation period for test, which is what the
sequence models see as input history at test time. Targets never leak into the counts.
"""

from __future__ import annotations

import numpy as np

from streamrec.models.data.sequences import Split


def training_counts(split: Split, which: str = "test") -> np.ndarray:
    """How often each vocabulary row occurs before the ``which`` targets, ``(vocab size,)``."""
    counts = np.zeros(split.data.vocab.size, dtype=np.float64)
    for items, n in zip(split.data.items, split.fit_lengths(which), strict=True):
        np.add.at(counts, items[:n], 1.0)
    return counts


class PopularityScorer:
    """Scores every item by its training count, the same list for every user."""

    max_len = 1  # the history is irrelevant

    def __init__(self, split: Split, which: str = "test") -> None:
        self.counts = training_counts(split, which)

    def score(
        self, items: np.ndarray, actions: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, None]:
        """The count vector repeated for each row of the batch."""
        return np.broadcast_to(self.counts, (len(items), len(self.counts))), None


class CooccurrenceScorer:
    """Item-to-item: items that followed the user's recent items in training sequences.

    A training pair ``a -> b`` (``b`` within ``window`` steps after ``a``) adds
    ``1 / distance``. A history scores ``sum_j decay**j * row(h_j)`` over its ``recent`` last
    items (``j = 0`` the latest), plus a tiny popularity term that orders the rest.
    """

    def __init__(
        self,
        split: Split,
        which: str = "test",
        window: int = 3,
        recent: int = 3,
        decay: float = 0.5,
    ) -> None:
        self.max_len = recent
        self.decay = decay
        n = split.data.vocab.size
        counts = training_counts(split, which)
        self.popularity = counts / max(1.0, float(counts.max()))
        src: list[np.ndarray] = []
        dst: list[np.ndarray] = []
        weight: list[np.ndarray] = []
        for items, length in zip(split.data.items, split.fit_lengths(which), strict=True):
            seq = items[:length]
            for d in range(1, window + 1):
                if len(seq) > d:
                    src.append(seq[:-d])
                    dst.append(seq[d:])
                    weight.append(np.full(len(seq) - d, 1.0 / d))
        if src:
            s, t, w = np.concatenate(src), np.concatenate(dst), np.concatenate(weight)
        else:
            s = t = np.zeros(0, dtype=np.int64)
            w = np.zeros(0)
        # CSR by source row: keys sorted, duplicates summed.
        keys, inverse = np.unique(s * n + t, return_inverse=True)
        values = np.bincount(inverse, weights=w) if len(keys) else np.zeros(0)
        rows = keys // n
        self.cols = (keys % n).astype(np.int64)
        self.values = values
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])

    def score(
        self, items: np.ndarray, actions: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, None]:
        """Co-occurrence scores ``(B, vocab size)`` from each history's latest items."""
        out = np.tile(self.popularity * 1e-6, (len(items), 1))
        for b in range(len(items)):
            for j in range(min(int(lengths[b]), self.max_len)):
                item = int(items[b, lengths[b] - 1 - j])
                lo, hi = self.indptr[item], self.indptr[item + 1]
                out[b, self.cols[lo:hi]] += self.decay**j * self.values[lo:hi]
        return out, None
