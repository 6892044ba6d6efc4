"""The scoring side of a step, as plain arrays: what an index-served bundle keeps beside its graph.

A step graph scores ``query @ table.T + bias`` (then adds the item-to-item transitions). When a
catalog is too large to score every row per event, the bundle carries a query graph instead
(streamrec.export.query_graph) and these arrays: the item table, the score bias (the item bias,
``-inf`` on PAD/UNK and unassigned rows) and, for blended models, the transition table with its
alpha already applied. :mod:`streamrec.export.indexed_step` rescores an index's candidates with
them exactly. Stored as one uncompressed ``.npz`` (``items.npz``); numpy only, no torch.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from streamrec.export.errors import BundleError


@dataclass(frozen=True)
class ItemTable:
    """``table`` (N, D) float32, ``bias`` (N,) float32 with -inf on masked rows.

    Blended models also carry ``neighbour_ids``/``neighbour_weights`` (T, W) (weights scaled by
    alpha) and ``decays`` (R,): the step adds ``decays[j] * weights[h_j]`` to the rows
    ``ids[h_j]`` for the user's R latest items ``h_j`` (``j = 0`` the event's own). The
    transition table stops at the last row that leads somewhere (T <= N): rows past it (new
    items, a large catalog's tail) have no followers and cost no memory.
    """

    table: np.ndarray
    bias: np.ndarray
    neighbour_ids: np.ndarray | None = None
    neighbour_weights: np.ndarray | None = None
    decays: np.ndarray | None = None

    def __post_init__(self) -> None:
        rows = self.table.shape[0]
        if self.table.ndim != 2 or self.bias.shape != (rows,):
            raise ValueError(f"table {self.table.shape} and bias {self.bias.shape} do not match")
        blend = (self.neighbour_ids, self.neighbour_weights, self.decays)
        if any(a is None for a in blend) and any(a is not None for a in blend):
            raise ValueError("transitions need ids, weights and decays together")
        if self.neighbour_ids is not None and self.neighbour_weights is not None:
            if self.neighbour_ids.shape != self.neighbour_weights.shape:
                raise ValueError("transition ids and weights differ in shape")
            if self.neighbour_ids.shape[0] > rows:
                raise ValueError(f"transition table has {self.neighbour_ids.shape[0]} rows")

    @property
    def rows(self) -> int:
        """Item rows (the vocabulary's capacity)."""
        return int(self.table.shape[0])

    @property
    def dim(self) -> int:
        """Width of an item vector."""
        return int(self.table.shape[1])

    @property
    def recent(self) -> int:
        """Latest items whose transitions are added (0: no transitions)."""
        return 0 if self.decays is None else int(self.decays.shape[0])

    def assigned(self) -> np.ndarray:
        """Rows that can be recommended (finite bias), ascending."""
        rows: np.ndarray = np.flatnonzero(np.isfinite(self.bias))
        return rows

    def with_rows(
        self, rows: Sequence[int] | np.ndarray, vectors: np.ndarray, bias: float | np.ndarray
    ) -> ItemTable:
        """A copy where ``rows`` get ``vectors`` (n, D) and ``bias`` (new items, cold start)."""
        index = np.asarray(rows, np.int64)
        table, scores = self.table.copy(), self.bias.copy()
        table[index] = np.asarray(vectors, np.float32)
        scores[index] = np.broadcast_to(np.asarray(bias, np.float32), index.shape)
        return replace(self, table=table, bias=scores)

    def to_bytes(self) -> bytes:
        """Uncompressed ``.npz`` bytes."""
        arrays: dict[str, Any] = {"table": self.table, "bias": self.bias}
        if self.neighbour_ids is not None:
            arrays["neighbour_ids"] = self.neighbour_ids
            arrays["neighbour_weights"] = self.neighbour_weights
            arrays["decays"] = self.decays
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ItemTable:
        """Inverse of :meth:`to_bytes`; :class:`BundleError` on anything else."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            return cls(
                table=np.ascontiguousarray(arrays["table"], np.float32),
                bias=np.ascontiguousarray(arrays["bias"], np.float32),
                neighbour_ids=arrays.get("neighbour_ids"),
                neighbour_weights=arrays.get("neighbour_weights"),
                decays=arrays.get("decays"),
            )
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise BundleError(f"not an item table: {exc}") from exc
