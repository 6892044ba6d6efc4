"""The step served through an item index: query graph, index candidates, exact rescoring.

Per batch: the query graph gives each user's new state, query vector and buy probability; the
index (streamrec.export.mips) fetches each query's best ``fetch`` rows; for blended models each
user's latest items add their followers as candidates too. Every candidate is then scored
exactly as the step graph would (``query . row + bias + transitions``), excluded rows are
dropped and the top K kept. So the answer equals exact scoring whenever the exact top K is
among the candidates; export measures how often that holds (streamrec.export.index_gate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamrec.export.bundle import Bundle
from streamrec.export.errors import BundleError
from streamrec.export.item_table import ItemTable
from streamrec.export.mips import MipsIndex
from streamrec.export.spec import QUERY_INPUTS, QUERY_OUTPUTS
from streamrec.export.step_result import StepResult
from streamrec.models.inference import GraphRunner, Provider, SessionError, create_session

DEFAULT_OVERFETCH = 10  # rows fetched beyond K (and beyond the batch's most exclusions)


@dataclass(frozen=True)
class Candidates:
    """Unique (user, row) candidates of a batch, grouped by user; ``extra`` transitions added."""

    users: np.ndarray  # (C,) int64
    rows: np.ndarray  # (C,) int64
    extra: np.ndarray | float  # (C,) float32 transition scores, or 0.0


class IndexedStep:
    """Same call as :class:`streamrec.export.runtime.StepRunner`, top-K from an index."""

    def __init__(
        self,
        query_graph: bytes,
        items: ItemTable,
        index: MipsIndex,
        state_size: int,
        k: int,
        *,
        provider: Provider = "cpu",
        threads: int | None = None,
        spin: bool = False,
        overfetch: int = DEFAULT_OVERFETCH,
    ) -> None:
        self.session = create_session(query_graph, provider=provider, threads=threads, spin=spin)
        self.provider = self.session.get_providers()[0]
        names = tuple(i.name for i in self.session.get_inputs())
        outs = tuple(o.name for o in self.session.get_outputs())
        if names != QUERY_INPUTS or outs != QUERY_OUTPUTS:
            raise SessionError(f"graph signature {names} -> {outs} is not a query graph")
        if self.session.get_outputs()[1].shape[1] not in (items.dim, None):
            raise SessionError("query width differs from the item table's")
        self.runner = GraphRunner(self.session, QUERY_OUTPUTS)
        self.items = items
        self.index = index
        self.state_size = state_size
        self.k = k
        self.overfetch = overfetch
        self.previous = max(0, items.recent - 1)

    def with_items(
        self, rows: Sequence[int] | np.ndarray, vectors: np.ndarray, bias: float | np.ndarray
    ) -> IndexedStep:
        """A step that also serves ``rows``; the index takes them in place (no rebuild)."""
        rows = np.asarray(rows, np.int64)
        table = self.items.with_rows(rows, vectors, bias)
        self.index.add(rows, table.table[rows], table.bias[rows])
        out = object.__new__(IndexedStep)
        out.__dict__.update(self.__dict__)
        out.items = table
        return out

    def run(
        self,
        items: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray,
        exclude: np.ndarray | None = None,
        previous: np.ndarray | None = None,
    ) -> StepResult:
        """Apply one event per user; ``exclude`` (B,E) rows are never returned (0 = none)."""
        batch = len(items)
        items = np.ascontiguousarray(items, np.int64).reshape(batch)
        feeds: dict[str, np.ndarray] = {
            "items": items,
            "actions": np.ascontiguousarray(actions, np.int64).reshape(batch),
            "state": np.ascontiguousarray(states, np.float32).reshape(batch, self.state_size),
        }
        new_state, query, buy = self.runner.run(feeds)
        width = 0 if exclude is None else int(np.count_nonzero(exclude, axis=1).max(initial=0))
        _, found = self.index.search(query, self.k + self.overfetch + width)
        cand = self.candidates(found, items, previous)
        scores = np.einsum("ij,ij->i", self.items.table[cand.rows], query[cand.users])
        scores += self.items.bias[cand.rows]
        scores += cand.extra
        if exclude is not None and width:
            scores[_excluded(cand, exclude, self.items.rows)] = -np.inf
        top_items, top_scores = _top_k(cand, scores, batch, self.k)
        return StepResult(new_state, top_items, top_scores, buy)

    def candidates(
        self, found: np.ndarray, items: np.ndarray, previous: np.ndarray | None
    ) -> Candidates:
        """The index's rows plus, with transitions, the followers of each user's latest items."""
        batch, n = len(found), self.items.rows
        t = self.items
        if t.neighbour_ids is None or t.neighbour_weights is None or t.decays is None:
            users = np.repeat(np.arange(batch, dtype=np.int64), found.shape[1])
            rows = found.ravel().astype(np.int64)
            ok = rows > 0
            return Candidates(users[ok], rows[ok], 0.0)
        history = np.zeros((batch, t.recent), np.int64)
        history[:, 0] = items
        if previous is not None and t.recent > 1:
            history[:, 1:] = np.asarray(previous, np.int64).reshape(batch, -1)[:, : t.recent - 1]
        history[history >= len(t.neighbour_ids)] = 0  # rows past the table lead nowhere
        followers = t.neighbour_ids[history].reshape(batch, -1)  # (B, R*W)
        decays = t.decays.reshape(1, -1, 1)
        weights = (t.neighbour_weights[history] * decays).reshape(batch, -1)
        both = np.concatenate([found.astype(np.int64), followers.astype(np.int64)], axis=1)
        extra = np.concatenate([np.zeros_like(found, np.float32), weights], axis=1).ravel()
        users = np.repeat(np.arange(batch, dtype=np.int64), both.shape[1])
        flat = both.ravel()
        ok = flat > 0
        keys, inverse = np.unique(users[ok] * n + flat[ok], return_inverse=True)
        summed = np.bincount(inverse, weights=extra[ok], minlength=len(keys)).astype(np.float32)
        return Candidates(keys // n, keys % n, summed)


def open_indexed(
    bundle: Bundle, *, provider: Provider = "cpu", threads: int | None = None, spin: bool = False
) -> IndexedStep:
    """The bundle's index-served step; :class:`BundleError` when the bundle has no index."""
    info = bundle.manifest.index
    if info is None:
        raise BundleError(f"bundle {bundle.path} has no item index (export it with --index)")
    table = ItemTable.from_bytes(bundle.file_bytes(info.items_file))
    index = MipsIndex.from_bytes(
        bundle.file_bytes(info.file), ef_search=info.ef_search, threads=threads or 1
    )
    return IndexedStep(
        bundle.graph_bytes("query"),
        table,
        index,
        bundle.manifest.dims.state_size,
        bundle.manifest.k,
        provider=provider,
        threads=threads,
        spin=spin,
    )


def _excluded(cand: Candidates, exclude: np.ndarray, rows: int) -> np.ndarray:
    """Mask of the candidates that are in their user's exclusion list."""
    exclude = np.asarray(exclude, np.int64)
    users = np.repeat(np.arange(len(exclude), dtype=np.int64), exclude.shape[1])
    flat = exclude.ravel()
    keys = users[flat > 0] * rows + flat[flat > 0]
    mask: np.ndarray = np.isin(cand.users * rows + cand.rows, keys)
    return mask


def _top_k(
    cand: Candidates, scores: np.ndarray, batch: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``k`` best candidates, descending; missing places get row 0 and -inf."""
    order = np.lexsort((-scores, cand.users))
    users = cand.users[order]
    starts = np.searchsorted(users, np.arange(batch))
    rank = np.arange(len(order)) - starts[users]
    keep = rank < k
    top_items = np.zeros((batch, k), np.int64)
    top_scores = np.full((batch, k), -np.inf, np.float32)
    top_items[users[keep], rank[keep]] = cand.rows[order][keep]
    top_scores[users[keep], rank[keep]] = scores[order][keep]
    top_items[~np.isfinite(top_scores)] = 0
    return top_items, top_scores
