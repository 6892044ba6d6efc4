"""Comparison of step outputs against the torch reference: tolerances, ties, agreement rates.

Pure numpy, so the same check serves the exporter (ORT vs torch) and the variant gate
(int8/fp16 vs fp32). A row *agrees* when its top-K rows are identical, or differ only where the
reference scores of the two choices are equal within ``TIE_ATOL`` (an exact tie up to float
rounding, which either engine may break either way).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from streamrec.export.spec import PREVIOUS_INPUT

STATE_ATOL = 1e-4  # max |state_onnx - state_torch|
SCORE_ATOL = 1e-3  # max |score_onnx - score_torch| on finite top-K scores
BUY_ATOL = 1e-4
TIE_ATOL = 1e-5  # two reference scores closer than this are a tie


@dataclass(frozen=True)
class StepInputs:
    """A batch of step inputs as numpy arrays (see streamrec.export.spec for shapes)."""

    items: np.ndarray
    actions: np.ndarray
    states: np.ndarray
    exclude: np.ndarray
    previous: np.ndarray | None = None  # (B, P) earlier items, latest first (blended graphs)

    def __len__(self) -> int:
        return len(self.items)

    def slice(self, start: int, stop: int) -> StepInputs:
        """Rows ``start:stop``."""
        return StepInputs(
            self.items[start:stop],
            self.actions[start:stop],
            self.states[start:stop],
            self.exclude[start:stop],
            None if self.previous is None else self.previous[start:stop],
        )

    def feeds(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """ORT feeds for a graph whose inputs are ``names`` (``previous`` only if listed)."""
        arrays = {
            "items": self.items,
            "actions": self.actions,
            "state": self.states,
            "exclude": self.exclude,
        }
        if PREVIOUS_INPUT in names:
            if self.previous is None:
                raise ValueError("this step graph needs the previous items")
            arrays[PREVIOUS_INPUT] = self.previous
        return {name: arrays[name] for name in names}


@dataclass
class ParityReport:
    """Worst differences and top-K agreement over all rows checked."""

    rows: int = 0
    identical_rows: int = 0
    tie_rows: int = 0
    max_state_diff: float = 0.0
    max_score_diff: float = 0.0
    max_buy_diff: float = 0.0

    @property
    def agreement(self) -> float:
        """Share of rows whose top-K agrees (identical or ties only)."""
        return (self.identical_rows + self.tie_rows) / self.rows if self.rows else 1.0

    def within_tolerance(self) -> bool:
        """All numeric differences under the stated tolerances."""
        return (
            self.max_state_diff <= STATE_ATOL
            and self.max_score_diff <= SCORE_ATOL
            and self.max_buy_diff <= BUY_ATOL
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for manifests and logs."""
        return {**asdict(self), "agreement": self.agreement}


def random_inputs(
    rng: np.random.Generator,
    batch: int,
    num_items: int,
    num_actions: int,
    state_size: int,
    exclude_width: int,
    previous: int = 0,
) -> StepInputs:
    """Uniform random inputs (reserved rows included), states in (-1, 1), padded exclusions.

    ``previous`` > 0 adds that many earlier items per row (some PAD, as for new users).
    """
    exclude = rng.integers(0, num_items, (batch, exclude_width))
    exclude[rng.random((batch, exclude_width)) < 0.3] = 0
    earlier = None
    if previous:
        earlier = rng.integers(0, num_items, (batch, previous)).astype(np.int64)
        earlier[rng.random((batch, previous)) < 0.2] = 0
    return StepInputs(
        items=rng.integers(0, num_items, batch),
        actions=rng.integers(0, num_actions, batch),
        states=rng.uniform(-1, 1, (batch, state_size)).astype(np.float32),
        exclude=exclude.astype(np.int64),
        previous=earlier,
    )


def topk_agreement(
    ref_items: np.ndarray, got_items: np.ndarray, ref_scores_full: np.ndarray
) -> tuple[int, int]:
    """(identical rows, tie-only rows) of ``got_items`` against the reference top-K."""
    same = (ref_items == got_items).all(axis=1)
    ties = 0
    for row in np.flatnonzero(~same):
        ref_sorted = ref_scores_full[row, ref_items[row]]
        got_sorted = np.sort(ref_scores_full[row, got_items[row]])[::-1]
        both_inf = np.isneginf(ref_sorted) & np.isneginf(got_sorted)
        close = np.abs(ref_sorted - got_sorted) <= TIE_ATOL
        if np.all(both_inf | close):
            ties += 1
    return int(same.sum()), ties


def finite_max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Max |a - b| where both are finite; inf where only one of them is."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    if np.any(fa != fb) or np.isnan(a).any() or np.isnan(b).any():
        return float("inf")
    return float(np.abs(a[fa] - b[fb]).max()) if fa.any() else 0.0


def accumulate(
    report: ParityReport,
    ref: tuple[np.ndarray, ...],
    got: tuple[np.ndarray, ...],
    ref_scores_full: np.ndarray,
) -> None:
    """Add a batch to ``report``; ``ref``/``got`` are (state, top_items, top_scores, buy)."""
    identical, ties = topk_agreement(ref[1], got[1], ref_scores_full)
    report.rows += len(ref[0])
    report.identical_rows += identical
    report.tie_rows += ties
    report.max_state_diff = max(report.max_state_diff, _max_abs_diff(ref[0], got[0]))
    report.max_score_diff = max(report.max_score_diff, finite_max_diff(ref[2], got[2]))
    report.max_buy_diff = max(report.max_buy_diff, _max_abs_diff(ref[3], got[3]))


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Max |a - b|; inf when either side holds a NaN (Python's max would drop a NaN)."""
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    return diff if np.isfinite(diff) else float("inf")
