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
from typing import Any

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
        s, t, w = _pairs(sequences, window)
        return cls._from_counts(s, t, w, rows, width, recent, decay)

    def refreshed(
        self, sequences: Sequence[np.ndarray], rows: int, window: int = 3
    ) -> NeighbourTable:
        """The table with the transitions of ``sequences`` added, over ``rows`` rows.

        The kept counts (``expm1`` of the weights) and the new ones are summed and each row's
        strongest ``width`` followers kept again: what the online trainer does with the
        events it fine-tunes on, so new transitions (and new items) enter the table.
        """
        if rows < self.rows:
            raise ValueError(f"a table of {self.rows} rows cannot shrink to {rows}")
        keep = self.weights > 0
        row_of = np.broadcast_to(np.arange(self.rows)[:, None], self.ids.shape)
        s, t, w = _pairs(sequences, window)
        return self._from_counts(
            np.concatenate([row_of[keep], s]),
            np.concatenate([self.ids[keep], t]),
            np.concatenate([np.expm1(self.weights[keep].astype(np.float64)), w]),
            rows,
            self.width,
            self.recent,
            self.decay,
        )

    @classmethod
    def _from_counts(
        cls,
        s: np.ndarray,
        t: np.ndarray,
        w: np.ndarray,
        rows: int,
        width: int,
        recent: int,
        decay: float,
    ) -> NeighbourTable:
        """Each row's ``width`` strongest followers from summed ``(source, target, count)``."""
        ids = np.zeros((rows, width), dtype=np.int64)
        weights = np.zeros((rows, width), dtype=np.float32)
        keep = (s != PAD) & (t != PAD) & (s < rows) & (t < rows)
        s, t, w = s[keep], t[keep], w[keep]
        if not len(s):
            return cls(ids, weights, recent, decay)
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

    @property
    def width(self) -> int:
        """Followers kept per row."""
        return int(self.ids.shape[1])

    def padded(self, rows: int) -> NeighbourTable:
        """The same table over ``rows`` rows (new rows lead nowhere).

        E.g. the vocabulary's capacity, so a row given to a new item later is in the table.
        """
        if rows < self.rows:
            raise ValueError(f"a table of {self.rows} rows cannot shrink to {rows}")
        extra = rows - self.rows
        return NeighbourTable(
            np.pad(self.ids, ((0, extra), (0, 0))),
            np.pad(self.weights, ((0, extra), (0, 0))),
            self.recent,
            self.decay,
        )

    def dense(self, history: np.ndarray) -> np.ndarray:
        """``(B, recent)`` latest-first item rows (PAD for none) -> added scores ``(B, rows)``."""
        out = np.zeros((len(history), self.rows), dtype=np.float32)
        for j in range(min(self.recent, history.shape[1])):
            ids = self.ids[history[:, j]]  # (B, width)
            w = self.weights[history[:, j]] * np.float32(self.decay**j)
            np.add.at(out, (np.arange(len(history))[:, None], ids), w)
        out[:, PAD] = 0.0
        return out


def _pairs(
    sequences: Sequence[np.ndarray], window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(source, target, 1 / distance)`` of every pair within ``window`` steps."""
    src: list[np.ndarray] = [np.zeros(0, np.int64)]
    dst: list[np.ndarray] = [np.zeros(0, np.int64)]
    weight: list[np.ndarray] = [np.zeros(0, np.float64)]
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        for d in range(1, window + 1):
            if len(seq) > d:
                src.append(seq[:-d])
                dst.append(seq[d:])
                weight.append(np.full(len(seq) - d, 1.0 / d))
    return np.concatenate(src), np.concatenate(dst), np.concatenate(weight)


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


@dataclass(frozen=True)
class Blend:
    """A table and the weight its scores are added with: what a checkpoint and a bundle carry.

    The step needs each user's ``previous`` items besides the event's own: ``recent - 1``
    of them, latest first (:attr:`previous`).
    """

    table: NeighbourTable
    alpha: float

    @property
    def previous(self) -> int:
        """Items before the event's own that the step reads (its ``previous`` input width)."""
        return self.table.recent - 1

    def padded(self, rows: int) -> Blend:
        """The blend over ``rows`` table rows (see :meth:`NeighbourTable.padded`)."""
        return Blend(self.table.padded(rows), self.alpha)

    def to_payload(self) -> dict[str, Any]:
        """Tensors and numbers for a checkpoint (``torch.load(weights_only=True)`` reads them)."""
        t = self.table
        return {
            "ids": torch.from_numpy(t.ids.astype(np.int32)),
            "weights": torch.from_numpy(t.weights),
            "recent": t.recent,
            "decay": t.decay,
            "alpha": self.alpha,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Blend:
        """Inverse of :meth:`to_payload`."""
        ids = payload["ids"].numpy().astype(np.int64)
        weights = payload["weights"].numpy().astype(np.float32)
        if ids.shape != weights.shape or ids.ndim != 2:
            raise ValueError(f"table ids {ids.shape} and weights {weights.shape} differ")
        table = NeighbourTable(ids, weights, int(payload["recent"]), float(payload["decay"]))
        return cls(table, float(payload["alpha"]))

    def describe(self) -> dict[str, Any]:
        """Plain figures for manifests and reports."""
        t = self.table
        return {
            "alpha": self.alpha,
            "width": t.width,
            "recent": t.recent,
            "decay": t.decay,
            "rows": t.rows,
            "entries": int((t.weights > 0).sum()),
        }
