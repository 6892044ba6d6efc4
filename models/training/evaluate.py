"""The offline evaluation harness: any :class:`Scorer` against a :class:`Split`.

Every model and baseline is evaluated the same way: each target's history (the user's events
before it) is handed to the scorer, which scores every vocabulary row; reserved rows and,
by default, items already in the history are excluded; the target's rank gives HR/NDCG/MRR
at K. Scorers that predict buys are also scored on the buy label of each event.
"""

from __future__ import annotations

import logging

import numpy as np

from streamrec.models.data.sequences import Split, Targets
from streamrec.models.data.vocab import RESERVED
from streamrec.models.training.buy_eval import buy_metrics
from streamrec.models.training.histories import Scorer, history_batches
from streamrec.models.training.metrics import (
    KS,
    Ranks,
    Ties,
    ranking_metrics,
    target_ranks,
)

log = logging.getLogger(__name__)


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
        metrics.update(buy_metrics(scorer, split, which, batch_size))
    return metrics
