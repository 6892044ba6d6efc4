"""A bundle's served step as an offline scorer: rank what a worker would recommend.

For each history the encode graph gives the state before the last event; the last event then
goes through the step the worker serves (the step graph, or the query graph with the item
index), with the history's items excluded and the earlier items as ``previous``. The returned
scores are ``-inf`` except on the step's top K, so HR@K and NDCG@K (K up to the bundle's k)
are those of the served recommendations (streamrec.models.training.evaluate).
"""

from __future__ import annotations

import numpy as np

from streamrec.export.runtime import StepSession
from streamrec.export.spec import MAX_HISTORY
from streamrec.models.data.vocab import PAD


class BundleScorer:
    """Implements streamrec.models.training.histories.Scorer with a loaded bundle session."""

    max_len = MAX_HISTORY

    def __init__(self, session: StepSession) -> None:
        self.session = session
        self.rows = session.manifest.dims.num_items

    def score(
        self, items: np.ndarray, actions: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Right-padded ``(B, T)`` histories -> ``(B, rows)`` scores (top K only), buy prob."""
        batch, width = items.shape
        users = np.arange(batch)
        last = np.maximum(np.asarray(lengths, np.int64) - 1, 0)
        before = np.arange(width)[None, :] < last[:, None]
        prefix = np.where(before, items, PAD).astype(np.int64)
        prefix_actions = np.where(before, actions, PAD).astype(np.int64)
        states = self.session.encode_histories(prefix, prefix_actions)
        previous = np.zeros((batch, max(1, self.session.previous)), np.int64)
        for j in range(self.session.previous):
            pos = last - 1 - j
            ok = pos >= 0
            previous[ok, j] = items[users[ok], pos[ok]]
        out = self.session.run(
            items[users, last].astype(np.int64),
            actions[users, last].astype(np.int64),
            states,
            np.asarray(items, np.int64),  # the history, PAD-padded: never recommended again
            previous,
        )
        scores = np.full((batch, self.rows), -np.inf, np.float32)
        finite = np.isfinite(out.top_scores)
        rows = np.broadcast_to(users[:, None], out.top_items.shape)
        scores[rows[finite], out.top_items[finite]] = out.top_scores[finite]
        return scores, out.buy_prob
