"""A model's scores plus item-to-item transition statistics, and the choice of their weight.

The blend is ``model scores + alpha * neighbour scores`` (see
:mod:`streamrec.models.nets.neighbours`). ``alpha`` is chosen on the validation targets with
a table counted on the events before them; the test figures then use a table counted on the
events before the test targets, as every baseline here does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamrec.models.data.sequences import Split
from streamrec.models.nets.gru import RecurrentRecommender
from streamrec.models.nets.neighbours import Blend, NeighbourTable, latest_first
from streamrec.models.training.evaluate import goals
from streamrec.models.training.histories import Scorer, history_batches
from streamrec.models.training.metrics import KS, Ranks, Ties, ranking_metrics, target_ranks

ALPHAS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


def fit_table(
    split: Split, which: str, rows: int, width: int = 64, recent: int = 3, decay: float = 0.5
) -> NeighbourTable:
    """The transition table of the events a model may see before the ``which`` targets."""
    lengths = split.fit_lengths(which)
    seqs = [items[:n] for items, n in zip(split.data.items, lengths, strict=True)]
    return NeighbourTable.fit(seqs, rows, width=width, recent=recent, decay=decay)


class BlendedScorer:
    """A scorer's scores plus ``alpha`` x a table's transitions: what a blended step serves."""

    def __init__(self, base: Scorer, table: NeighbourTable, alpha: float) -> None:
        self.base = base
        self.table = table
        self.alpha = np.float32(alpha)
        self.max_len = base.max_len

    def score(
        self, items: np.ndarray, actions: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The base scores with the transitions of each history's latest items added."""
        scores, buy = self.base.score(items, actions, lengths)
        scores = np.array(scores, dtype=np.float32, copy=True)
        added = self.table.dense(latest_first(items, lengths, self.table.recent))
        n = min(scores.shape[1], added.shape[1])
        scores[:, :n] += self.alpha * added[:, :n]
        return scores, buy


def blend_metrics(
    base: Scorer,
    split: Split,
    which: str,
    table: NeighbourTable,
    alphas: Sequence[float] = ALPHAS,
    batch_size: int = 512,
    ks: tuple[int, ...] = KS,
    ties: Ties = "index",
) -> dict[float, dict[str, float]]:
    """Ranking metrics of the blend at each ``alpha``, in one pass over the targets.

    The protocol of :func:`~streamrec.models.training.evaluate.evaluate`: reserved rows and
    history items excluded, full ranking over the vocabulary.
    """
    n_rows = split.data.vocab.size
    targets = split.targets(which)
    parts: dict[float, list[Ranks]] = {a: [] for a in alphas}
    for sl, items, actions, lengths in history_batches(split, targets, base.max_len, batch_size):
        scores = np.asarray(base.score(items, actions, lengths)[0])[:, :n_rows]
        added = table.dense(latest_first(items, lengths, table.recent))[:, :n_rows]
        exclude, goal = goals(split, targets, sl, n_rows)
        for alpha in alphas:
            parts[alpha].append(target_ranks(scores + np.float32(alpha) * added, goal, exclude))
    return {a: ranking_metrics(Ranks.concat(p), ks, ties) for a, p in parts.items()}


@dataclass(frozen=True)
class BlendChoice:
    """The chosen weight, the validation figures that chose it, and the test figures.

    ``table`` is the one counted on every event before the test targets: the table a served
    model carries (:meth:`blend`).
    """

    alpha: float
    valid: dict[float, dict[str, float]]
    test: dict[str, float]
    table: NeighbourTable

    def blend(self) -> Blend:
        """What a checkpoint stores: the table and the chosen weight."""
        return Blend(self.table, self.alpha)


def choose_blend(
    base: Scorer,
    split: Split,
    rows: int,
    alphas: Sequence[float] = ALPHAS,
    width: int = 64,
    metric: str = "NDCG@10",
) -> BlendChoice:
    """Pick ``alpha`` by validation ``metric``; report the test figures at that ``alpha``."""
    valid = blend_metrics(base, split, "valid", fit_table(split, "valid", rows, width), alphas)
    alpha = max(alphas, key=lambda a: valid[a][metric])
    test_table = fit_table(split, "test", rows, width)
    test = blend_metrics(base, split, "test", test_table, (alpha,))[alpha]
    return BlendChoice(alpha, valid, test, test_table)


def choose_for_model(
    model: RecurrentRecommender,
    split: Split,
    max_len: int,
    alphas: Sequence[float] = ALPHAS,
    width: int = 64,
) -> BlendChoice:
    """:func:`choose_blend` for a freshly trained model (what ``streamrec train`` stores)."""
    from streamrec.models.nets.scoring import ModelScorer
    from streamrec.models.training.train import pick_device

    device = pick_device()
    rows = split.data.vocab.size
    scorer = ModelScorer(model.to(device), model.config.num_items, rows, max_len, device)
    choice = choose_blend(scorer, split, rows, alphas, width)
    model.cpu()
    return choice
