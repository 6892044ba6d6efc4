"""What one step call returns, whichever way the top-K was found (graph or item index)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepResult:
    """One batch of step outputs, numpy on the host."""

    states: np.ndarray  # (B, S) float32
    top_items: np.ndarray  # (B, K) int64 rows; a score of -inf marks "no item"
    top_scores: np.ndarray  # (B, K) float32, descending
    buy_prob: np.ndarray  # (B,) float32
