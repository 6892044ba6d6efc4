"""Item-to-item transition statistics as a fixed-width table, added to a model's scores.

For every item row the table keeps its ``width`` strongest followers in the training
sequences: a pair ``a -> b`` with ``b`` within ``window`` steps after ``a`` counts
``1 / distance``, and a follower's weight is ``log1p`` of its summed count. A history adds
``sum_j decay**j * weight(h_j -> row)`` over its ``recent`` latest items (``j = 0`` the
latest) to the rows those items lead to, scaled by ``alpha``. Fixed width keeps that addition
O(recent x width) per event, whatever the catalog: a gather and a scatter-add in the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

PAD = 0  # row 0 is padding: a table entry pointing there has weight 0


@dataclass(frozen=True)
class NeighbourTable:
    """``ids`` and ``weights`` ``(rows, width)``: each row's followers, strongest first."""

    ids: np.ndarray  # int64 (rows, width); PAD where a row has fewer followers
    weights: np.ndarray  # float32 (rows, width); 0 where ids is PAD
    recent: int = 3
    decay: float = 0.5

    @property
    def rows(self) -> int:
        """Rows of the table (the vocabulary size it was built for)."""
        return int(self.ids.shape[0])

    @classmethod
    def fit(
        cls,
        sequences: Sequence[np.ndarray],
        rows: int,
        width: int = 64,
        window: int = 3,
        recent: int = 3,
        decay: float = 0.5,
    ) -> NeighbourTable:
        """Count the transitions of ``sequences`` (item rows, oldest first)."""
        src: list[np.ndarray] = []
        dst: list[np.ndarray] = []
        weight: list[np.ndarray] = []
        for seq in sequences:
            seq = np.asarray(seq, dtype=np.int64)
            for d in range(1, window + 1):
                if len(seq) > d:
                    src.append(seq[:-d])
                    dst.append(seq[d:])
                    weight.append(np.full(len(seq) - d, 1.0 / d))
        ids = np.zeros((rows, width), dtype=np.int64)
        weights = np.zeros((rows, width), dtype=np.float32)
        if not src:
            return cls(ids, weights, recent, decay)
        s, t, w = np.concatenate(src), np.concatenate(dst), np.concatenate(weight)
        keep = (s != PAD) & (t != PAD)
        s, t, w = s[keep], t[keep], w[keep]
        keys, inverse = np.unique(s * rows + t, return_inverse=True)
        counts = np.bincount(inverse, weights=w)
        row, col = keys // rows, keys % rows
        # Strongest first within each row: sort by (row, -count), then take each row's head.
        order = np.lexsort((-counts, row))
        row, col, counts = row[order], col[order], counts[order]
        starts = np.searchsorted(row, np.arange(rows))
        rank = np.arange(len(row)) - starts[row]
        head = rank < width
        ids[row[head], rank[head]] = col[head]
        weights[row[head], rank[head]] = np.log1p(counts[head]).astype(np.float32)
        return cls(ids, weights, recent, decay)

    def dense(self, history: np.ndarray) -> np.ndarray:
        """``(B, recent)`` latest-first item rows (PAD for none) -> added scores ``(B, rows)``."""
        out = np.zeros((len(history), self.rows), dtype=np.float32)
        for j in range(min(self.recent, history.shape[1])):
            ids = self.ids[history[:, j]]  # (B, width)
            w = self.weights[history[:, j]] * np.float32(self.decay**j)
            np.add.at(out, (np.arange(len(history))[:, None], ids), w)
        out[:, PAD] = 0.0
        return out


def add_neighbours(
    scores: Tensor, history: Tensor, ids: Tensor, weights: Tensor, decays: Tensor
) -> Tensor:
    """``scores`` ``(B, N)`` plus the table's weights for ``history`` ``(B, R)``, latest first.

    ``ids``/``weights`` ``(rows, width)`` are the table (``weights`` already scaled by alpha),
    ``decays`` ``(R,)`` the per-position factors. Exported as Gather + ScatterElements(add).
    """
    nb = ids[history]  # (B, R, width)
    w = weights[history] * decays[None, :, None]  # (B, R, width)
    return scores.scatter_add(1, nb.flatten(1), w.flatten(1))


def latest_first(items: np.ndarray, lengths: np.ndarray, recent: int) -> np.ndarray:
    """Right-padded ``(B, T)`` histories -> their ``recent`` latest items ``(B, recent)``."""
    out = np.zeros((len(items), recent), dtype=np.int64)
    for j in range(recent):
        pos = lengths - 1 - j
        ok = pos >= 0
        out[ok, j] = items[np.nonzero(ok)[0], pos[ok]]
    return out


def as_tensors(table: NeighbourTable, alpha: float) -> tuple[Tensor, Tensor, Tensor]:
    """The table as the step's constants: ids, ``alpha``-scaled weights and decays."""
    decays = torch.tensor([table.decay**j for j in range(table.recent)], dtype=torch.float32)
    return (
        torch.from_numpy(table.ids),
        torch.from_numpy(table.weights * np.float32(alpha)),
        decays,
    )
