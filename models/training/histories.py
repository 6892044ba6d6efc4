"""What every offline evaluation hands a model: right-padded histories, in batches.

:class:`Scorer` is the interface a model or baseline offers the harnesses
(:mod:`~streamrec.models.training.evaluate`, :mod:`~streamrec.models.training.buy_eval`,
:mod:`~streamrec.models.training.blend`); :func:`history_batches` cuts the targets' histories.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from streamrec.models.data.sequences import Split, Targets, pad_right


class Scorer(Protocol):
    """Scores every vocabulary row for a batch of histories."""

    max_len: int  # the scorer sees at most this many most recent events

    def score(
        self, items: np.ndarray, actions: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Right-padded ``(B, T)`` histories -> scores ``(B, >= vocab size)``, buy prob or None."""
        ...


def history_batches(
    split: Split, targets: Targets, max_len: int, batch_size: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Batches of right-padded histories ``(indices into targets, items, actions, lengths)``."""
    out = []
    data = split.data
    # Similar history lengths share a batch, so little time is spent on padding.
    order = np.argsort(np.minimum(targets.pos, max_len), kind="stable")
    for start in range(0, len(targets), batch_size):
        chosen = order[start : start + batch_size]
        users, pos = targets.user[chosen], targets.pos[chosen]
        items, lengths = pad_right(
            [data.items[u][:p] for u, p in zip(users, pos, strict=True)], max_len
        )
        actions, _ = pad_right(
            [data.actions[u][:p] for u, p in zip(users, pos, strict=True)], max_len
        )
        out.append((chosen, items, actions, lengths))
    return out
