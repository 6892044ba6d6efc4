"""Build a bundle's item index and admit it only if it answers like exact scoring.

The exact step graph and the index-served step (streamrec.export.indexed_step) run on the same
inputs (real ones when export is given them); recall@10 is the share of the exact top 10 (its
finite entries) that the index-served top 10 also holds. Search breadths are tried from the
smallest up (:data:`streamrec.export.mips.EF_CHOICES`); the first that reaches the floor is
kept in the manifest. None reaching it refuses the index: the bundle is written without one,
with the figures that refused it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from streamrec.export.indexed_step import IndexedStep
from streamrec.export.item_table import ItemTable
from streamrec.export.mips import EF_CHOICES, MipsIndex
from streamrec.export.parity import StepInputs
from streamrec.export.runtime import StepRunner

log = logging.getLogger(__name__)

INDEX_FLOOR = 0.95  # recall@10 against exact scoring, below which the index is refused
GATE_K = 10
GATE_ROWS = 2000  # inputs the gate runs (exact scoring of a 1M catalog is the slow side)
CHUNK = 256
EXACT_SCORES = 50_000_000  # most scores per exact call (chunk x rows)


@dataclass(frozen=True)
class IndexReport:
    """Outcome of the index gate."""

    admitted: bool
    reason: str
    inputs: int = 0
    recall: float = 0.0
    ef_search: int = 0
    floor: float = INDEX_FLOOR
    tried: dict[str, float] = field(default_factory=dict)  # ef -> recall@10
    rows: int = 0
    m: int = 0
    build_s: float = 0.0
    size_mb: float = 0.0
    exact_us: float = 0.0  # per event, exact step graph, one thread (smaller chunks past 195k rows)
    index_us: float = 0.0  # per event, index-served step at the kept breadth

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the manifest."""
        return asdict(self)


def recall_at(exact: tuple[np.ndarray, np.ndarray], got: np.ndarray, k: int = GATE_K) -> float:
    """Share of the exact top-``k`` (finite scores) that ``got``'s top-``k`` rows hold."""
    items, scores = exact[0][:, :k], exact[1][:, :k]
    want = np.isfinite(scores)
    hits = (items[:, :, None] == got[:, None, :k]).any(axis=2) & want
    total = int(want.sum())
    return 1.0 if total == 0 else float(hits.sum()) / total


def _run_all(
    step: StepRunner | IndexedStep, inputs: StepInputs, chunk: int = CHUNK
) -> tuple[np.ndarray, np.ndarray, float]:
    """Top items and scores over ``inputs`` in chunks, and the time per event (µs)."""
    items, scores = [], []
    start = time.perf_counter()
    for lo in range(0, len(inputs), chunk):
        x = inputs.slice(lo, lo + chunk)
        out = step.run(x.items, x.actions, x.states, x.exclude, x.previous)
        items.append(out.top_items)
        scores.append(out.top_scores)
    elapsed = (time.perf_counter() - start) / max(1, len(inputs)) * 1e6
    return np.concatenate(items), np.concatenate(scores), elapsed


def build_index(
    step_onnx: bytes,
    query_onnx: bytes,
    table: ItemTable,
    state_size: int,
    k: int,
    inputs: StepInputs,
    floor: float = INDEX_FLOOR,
) -> tuple[MipsIndex | None, IndexReport]:
    """The index (None when refused) and the gate's report."""
    inputs = inputs.slice(0, GATE_ROWS)
    exact_step = StepRunner(step_onnx, state_size, provider="cpu", threads=1, spin=False)
    # The exact step's (chunk, rows) score matrix: bounded as the exporter's verification is.
    exact_chunk = max(1, min(CHUNK, EXACT_SCORES // table.rows))
    exact_items, exact_scores, exact_us = _run_all(exact_step, inputs, exact_chunk)
    index, build_s = MipsIndex.build(table.table, table.bias)
    step = IndexedStep(query_onnx, table, index, state_size, k, provider="cpu", threads=1)
    tried: dict[str, float] = {}
    kept, index_us = 0, 0.0
    for ef in EF_CHOICES:
        index.ef_search = ef
        got, _, index_us = _run_all(step, inputs)
        tried[str(ef)] = recall_at((exact_items, exact_scores), got)
        log.info("index: ef %d, recall@%d %.4f", ef, GATE_K, tried[str(ef)])
        if tried[str(ef)] >= floor:
            kept = ef
            break
    best = max(tried.values())
    report = IndexReport(
        admitted=bool(kept),
        reason="",
        inputs=len(inputs),
        recall=tried[str(kept)] if kept else best,
        ef_search=kept,
        floor=floor,
        tried=tried,
        rows=index.size,
        m=index.m,
        build_s=round(build_s, 3),
        size_mb=round(len(index.to_bytes()) / 1e6, 1),
        exact_us=round(exact_us, 1),
        index_us=round(index_us, 1),
    )
    if not kept:
        reason = (
            f"refused: recall@{GATE_K} {best:.4f} at best (ef up to {EF_CHOICES[-1]}) is below "
            f"the floor {floor}"
        )
        log.warning("index %s", reason)
        return None, replace(report, reason=reason)
    reason = f"recall@{GATE_K} {report.recall:.4f} >= {floor} at ef {kept}"
    log.info("index admitted: %s", reason)
    index.ef_search = kept
    return index, replace(report, reason=reason)
