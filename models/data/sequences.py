"""Per-user index sequences, and the evaluation protocols that split them.

Protocols:

- **Leave-one-out** (``datasets/README.md``): per user the last item is the test target, the
  one before it the validation target, the rest is training. Users with fewer than three
  events train only.
- **Time split** (event logs): events before a cut-off time train; every later event whose
  item the user has not touched before becomes a test target ("next new item"), with all the
  user's earlier events as history. The last ``val_share`` of the training period gives the
  validation targets the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from streamrec.models.data.events import Event
from streamrec.models.data.vocab import Vocabulary


@dataclass
class UserSequences:
    """Each user's events as vocabulary rows and action indices, in time order."""

    users: list[str]
    items: list[np.ndarray]  # int64 rows, one array per user
    actions: list[np.ndarray]  # int64 action indices
    times: list[np.ndarray]  # float64 Unix seconds
    vocab: Vocabulary

    @property
    def num_events(self) -> int:
        """Total events over all users."""
        return int(sum(len(s) for s in self.items))


@dataclass
class Targets:
    """Evaluation examples: predict ``items[user][pos]`` from ``items[user][:pos]``."""

    user: np.ndarray  # int64 index into UserSequences lists
    pos: np.ndarray  # int64 position of the target in that user's sequence

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class Split:
    """Training sequences plus validation and test targets over the same users."""

    data: UserSequences
    train_lengths: np.ndarray  # per user: training uses items[u][:train_lengths[u]]
    valid: Targets
    test: Targets
    protocol: str
    # Buy-head examples: every event of the evaluation period (buys repeat seen items, so
    # they are not among the "new item" targets). Label: is this event a buy?
    buy_valid: Targets | None = None
    buy_test: Targets | None = None
    # Per user, the events available when predicting the test targets: training plus the
    # validation period. Counting baselines fit on these for ``which="test"``.
    test_train_lengths: np.ndarray | None = None

    def fit_lengths(self, which: str) -> np.ndarray:
        """Per-user prefix lengths a model may fit on before predicting ``which`` targets."""
        if which == "test" and self.test_train_lengths is not None:
            return self.test_train_lengths
        return self.train_lengths

    def targets(self, which: str) -> Targets:
        """``valid`` or ``test`` next-item targets."""
        return self.valid if which == "valid" else self.test

    def buy_targets(self, which: str) -> Targets:
        """``valid`` or ``test`` buy-head examples (defaults to the next-item targets)."""
        found = self.buy_valid if which == "valid" else self.buy_test
        return found if found is not None else self.targets(which)


def build_sequences(
    events: Iterable[Event], vocab: Vocabulary | None = None, headroom: float = 0.25
) -> UserSequences:
    """Group time-ordered ``events`` by user (first-seen order); build a vocabulary if needed."""
    events = list(events)
    if vocab is None:
        vocab = Vocabulary.build((e.item_id for e in events), headroom=headroom)
    order: dict[str, int] = {}
    items: list[list[int]] = []
    actions: list[list[int]] = []
    times: list[list[float]] = []
    for e in events:
        u = order.get(e.user_id)
        if u is None:
            u = order[e.user_id] = len(order)
            items.append([])
            actions.append([])
            times.append([])
        items[u].append(vocab.index(e.item_id))
        actions[u].append(int(e.action))
        times[u].append(e.ts)
    return UserSequences(
        users=list(order),
        items=[np.asarray(x, dtype=np.int64) for x in items],
        actions=[np.asarray(x, dtype=np.int64) for x in actions],
        times=[np.asarray(x, dtype=np.float64) for x in times],
        vocab=vocab,
    )


def leave_one_out(data: UserSequences) -> Split:
    """Last item tests, the one before validates, the rest trains (users with >= 3 events)."""
    lengths = np.asarray([len(s) for s in data.items], dtype=np.int64)
    evaluated = np.flatnonzero(lengths >= 3)
    train_lengths = np.where(lengths >= 3, lengths - 2, lengths)
    return Split(
        data=data,
        train_lengths=train_lengths,
        valid=Targets(evaluated, lengths[evaluated] - 2),
        test=Targets(evaluated, lengths[evaluated] - 1),
        protocol="leave-one-out",
        test_train_lengths=np.where(lengths >= 3, lengths - 1, lengths),
    )


def time_split(data: UserSequences, test_share: float = 0.2, val_share: float = 0.1) -> Split:
    """Split at the time quantiles so the last ``test_share`` of events are test periods."""
    all_ts = np.concatenate(data.times) if data.items else np.zeros(0)
    if len(all_ts) == 0:
        raise ValueError("no events to split")
    test_cut = float(np.quantile(all_ts, 1.0 - test_share))
    val_cut = float(np.quantile(all_ts, 1.0 - test_share - val_share))
    train_lengths = np.asarray(
        [int(np.searchsorted(t, val_cut, side="left")) for t in data.times], dtype=np.int64
    )
    test_train_lengths = np.asarray(
        [int(np.searchsorted(t, test_cut, side="left")) for t in data.times], dtype=np.int64
    )
    valid, buy_valid = _period_targets(data, val_cut, test_cut)
    test, buy_test = _period_targets(data, test_cut, float("inf"))
    return Split(
        data, train_lengths, valid, test, "time-split", buy_valid, buy_test, test_train_lengths
    )


def _period_targets(data: UserSequences, start: float, end: float) -> tuple[Targets, Targets]:
    """New-item targets and all events (with some history) in ``[start, end)``."""
    new: tuple[list[int], list[int]] = ([], [])
    every: tuple[list[int], list[int]] = ([], [])
    for u, (items, ts) in enumerate(zip(data.items, data.times, strict=True)):
        lo = int(np.searchsorted(ts, start, side="left"))
        hi = int(np.searchsorted(ts, end, side="left"))
        seen = set(items[: max(lo, 1)].tolist())
        for p in range(max(lo, 1), hi):
            item = int(items[p])
            every[0].append(u)
            every[1].append(p)
            if item not in seen:
                new[0].append(u)
                new[1].append(p)
            seen.add(item)
    return _targets(*new), _targets(*every)


def _targets(users: list[int], positions: list[int]) -> Targets:
    return Targets(np.asarray(users, dtype=np.int64), np.asarray(positions, dtype=np.int64))


def pad_right(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep each sequence's last ``max_len`` entries, right-pad with 0: ``(B, T)``, lengths."""
    lengths = np.asarray([min(len(s), max_len) for s in seqs], dtype=np.int64)
    out = np.zeros((len(seqs), max(1, int(lengths.max(initial=1)))), dtype=np.int64)
    for i, s in enumerate(seqs):
        if lengths[i]:
            out[i, : lengths[i]] = s[len(s) - lengths[i] :]
    return out, lengths
