"""The offline evaluation harness: any :class:`Scorer` against a :class:`Split`.

Every model and baseline is evaluated the same way: each target's history (the user's events
before it) is handed to the scorer, which scores every vocabulary row; reserved rows and,
by default, items already in the history are excluded; the target's rank gives HR/NDCG/MRR
at K. Scorers that predict buys are also scored on the buy label of each event.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from streamrec.models.data.sequences import Split, Targets, pad_right
from streamrec.models.data.vocab import RESERVED
from streamrec.models.training.metrics import (
    KS,
    Ranks,
    Ties,
    ranking_metrics,
    target_ranks,
)

log = logging.getLogger(__name__)


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


def goals(
    split: Split, targets: Targets, chosen: np.ndarray, n_rows: int, exclude_history: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """For the ``chosen`` targets: rows never ranked ``(B, n_rows)`` bool and the goal rows.

    Reserved rows are never ranked; with ``exclude_history`` neither are the history's items.
    """
    data = split.data
    exclude = np.zeros((len(chosen), n_rows), dtype=bool)
    exclude[:, :RESERVED] = True
    pairs = list(zip(targets.user[chosen], targets.pos[chosen], strict=True))
    if exclude_history:
        for row, (u, p) in enumerate(pairs):
            exclude[row, data.items[u][:p]] = True
    return exclude, np.array([data.items[u][p] for u, p in pairs])


def evaluate(
    scorer: Scorer,
    split: Split,
    which: str = "test",
    batch_size: int = 512,
    ks: tuple[int, ...] = KS,
    ties: Ties = "index",
    exclude_history: bool = True,
) -> dict[str, float]:
    """Ranking metrics of ``scorer`` on the ``valid`` or ``test`` targets of ``split``.

    Adds buy-head metrics (prefixed ``buy_``) when the scorer predicts buys and the data has
    at least one buy and one non-buy label.
    """
    n_rows = split.data.vocab.size
    targets = split.targets(which)
    parts: list[Ranks] = []
    predicts_buys = False
    for sl, items, actions, lengths in history_batches(split, targets, scorer.max_len, batch_size):
        scores, buy = scorer.score(items, actions, lengths)
        predicts_buys = predicts_buys or buy is not None
        scores = np.asarray(scores)[:, :n_rows]
        exclude, goal = goals(split, targets, sl, n_rows, exclude_history)
        parts.append(target_ranks(scores, goal, exclude))
    if not parts:
        raise ValueError(f"no {which} targets to evaluate")
    metrics = ranking_metrics(Ranks.concat(parts), ks, ties)
    metrics["users"] = float(len(np.unique(targets.user)))
    metrics["targets"] = float(len(targets))
    if predicts_buys:
        from streamrec.models.training.buy_eval import buy_metrics

        metrics.update(buy_metrics(scorer, split, which, batch_size))
    return metrics
