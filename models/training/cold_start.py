"""The cold-start protocol: items held out of training entirely, then ranked from text alone.

A share of the catalog is hidden: every event on a hidden item is removed from the training
data (the items keep vocabulary rows, as announced-but-unseen items do). The test targets are
each user's first interaction with a hidden item, predicted from everything the user did
before it (hidden items in the history included: by then they are in the catalog). Models
rank the hidden items only ("which new item next"), so the scores compare text-only item
vectors with popularity (training counts: nothing is known about new items, so all tie) and
random order; the oracle popularity counts the test interactions themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from streamrec.models.data.events import Event
from streamrec.models.data.sequences import (
    Split,
    Targets,
    UserSequences,
    build_sequences,
    leave_one_out,
    pad_right,
)
from streamrec.models.data.vocab import Vocabulary
from streamrec.models.training.metrics import Ranks, ranking_metrics, target_ranks

ScoreFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (B,T),(B,T),(B,) -> (B,N)


@dataclass
class ColdStartData:
    """Training split without the hidden items, and the full sequences the targets index."""

    split: Split
    full: UserSequences
    hidden_rows: np.ndarray  # vocabulary rows of the hidden items, sorted
    targets: Targets  # into ``full``


def cold_start_split(
    events: Sequence[Event], holdout_share: float = 0.2, seed: int = 0, headroom: float = 0.25
) -> ColdStartData:
    """Hide ``holdout_share`` of the items (at random) from training; see the module docstring."""
    vocab = Vocabulary.build((e.item_id for e in events), headroom=headroom)
    rng = np.random.default_rng(seed)
    n_items = len(vocab.ids)
    hidden_ids = {vocab.ids[i] for i in rng.choice(n_items, int(n_items * holdout_share), False)}
    train = build_sequences([e for e in events if e.item_id not in hidden_ids], vocab)
    full = build_sequences(events, vocab)
    hidden_rows = np.sort(np.array([vocab.index(i) for i in hidden_ids], dtype=np.int64))
    hidden = set(hidden_rows.tolist())
    users: list[int] = []
    positions: list[int] = []
    for u, items in enumerate(full.items):
        seen: set[int] = set()
        for p, row in enumerate(items.tolist()):
            if p > 0 and row in hidden and row not in seen:
                users.append(u)
                positions.append(p)
            seen.add(row)
    targets = Targets(np.asarray(users, np.int64), np.asarray(positions, np.int64))
    return ColdStartData(leave_one_out(train), full, hidden_rows, targets)


def cold_start_metrics(
    score: ScoreFn,
    data: ColdStartData,
    max_len: int = 50,
    ks: tuple[int, ...] = (10, 20),
    batch_size: int = 512,
) -> dict[str, float]:
    """HR@K/NDCG@K of ``score`` ranking the hidden items for the hidden-item targets."""
    full, t = data.full, data.targets
    col = {int(r): i for i, r in enumerate(data.hidden_rows.tolist())}
    parts = []
    for start in range(0, len(t), batch_size):
        us, ps = t.user[start : start + batch_size], t.pos[start : start + batch_size]
        items, lengths = pad_right(
            [full.items[u][:p] for u, p in zip(us, ps, strict=True)], max_len
        )
        actions, _ = pad_right([full.actions[u][:p] for u, p in zip(us, ps, strict=True)], max_len)
        scores = np.asarray(score(items, actions, lengths))[:, data.hidden_rows]
        goal = np.array([col[int(full.items[u][p])] for u, p in zip(us, ps, strict=True)])
        parts.append(target_ranks(scores, goal))
    metrics = ranking_metrics(Ranks.concat(parts), ks, ties="average")
    metrics["targets"] = float(len(t))
    metrics["candidates"] = float(len(data.hidden_rows))
    return metrics


def baseline_scores(data: ColdStartData, seed: int = 0) -> dict[str, ScoreFn]:
    """Popularity (training counts), oracle popularity (test counts) and random scorers."""
    n = data.split.data.vocab.capacity
    train_counts = np.zeros(n)
    for items, length in zip(data.split.data.items, data.split.train_lengths, strict=True):
        np.add.at(train_counts, items[:length], 1.0)
    oracle = np.zeros(n)
    np.add.at(oracle, [int(data.full.items[u][p]) for u, p in zip(*_pairs(data), strict=True)], 1)
    rng = np.random.default_rng(seed)

    def fixed(vec: np.ndarray) -> ScoreFn:
        return lambda items, actions, lengths: np.broadcast_to(vec, (len(items), n))

    return {
        "popularity": fixed(train_counts),
        "oracle_popularity": fixed(oracle),
        "random": lambda items, actions, lengths: rng.random((len(items), n)),
    }


def _pairs(data: ColdStartData) -> tuple[list[int], list[int]]:
    return data.targets.user.tolist(), data.targets.pos.tolist()


def text_similarity_scores(text: np.ndarray, recent: int = 3, decay: float = 0.5) -> ScoreFn:
    """Text-only scorer: cosine of each item's text to the user's ``recent`` last items' texts.

    ``text`` is the ``(rows, T)`` unit-norm sentence-embedding matrix; the latest item weighs
    1, the one before ``decay``, and so on. Needs no training at all.
    """

    def score(items: np.ndarray, actions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        query = np.zeros((len(items), text.shape[1]), np.float32)
        for j in range(recent):
            pos = lengths - 1 - j
            ok = pos >= 0
            rows = items[np.arange(len(items)), np.maximum(pos, 0)]
            query += np.where(ok[:, None], decay**j * text[rows], 0.0).astype(np.float32)
        out: np.ndarray = query @ text.T
        return out

    return score


class TextSimilarityScorer:
    """:func:`text_similarity_scores` as a :class:`streamrec.models.training.histories.Scorer`."""

    def __init__(self, text: np.ndarray, recent: int = 3, decay: float = 0.5) -> None:
        self.max_len = recent
        self._score = text_similarity_scores(text, recent, decay)

    def score(
        self, items: np.ndarray, actions: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, None]:
        """Cosine scores ``(B, rows)``; no buy probability."""
        return self._score(items, actions, lengths), None
