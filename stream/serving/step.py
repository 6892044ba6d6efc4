"""The pure per-batch step: (stored states, events, model) -> (new states, recommendations).

Imports neither faust nor Kafka. One micro-batch becomes as few model calls as possible:
round ``r`` runs the ``r``-th pending event of every user that has one, so a batch of
distinct users is exactly one call, and several events of one user are applied in order.
Each user's state is written once per batch (the caller stores ``BatchResult.states``).

Exactly-once application: an event at or below the stored offset of its source partition
is a replay; it is not applied again, and (when configured) answered with the user's
current recommendations so that every event still gets at least one. The stored state of
a user whose events were all replays is returned unchanged in ``BatchResult.states``, so
the caller writes it (and its changelog record) again: a worker killed after its local
write and before the changelog acknowledged it repairs the changelog on the replay.

Vocabulary changes: stored states hold item *rows* of the model that wrote them. A new model
(a promotion, a rollback) may map those rows to other items: a fine-tuned vocabulary appends
the items it learned, while the serving one may have appended announced items (cold start) in
another order, and a rollback drops rows. So rows are never reused across versions: a state
written by another version is re-encoded through external ids (old row -> id -> new row, UNK
when the new model lacks the id) with the old model's row table, which
:class:`ServingModel` keeps for the versions it succeeded (``lineage``). We re-encode rather
than refuse such bundles because refusing would block every promotion after a cold start and
every rollback, and the ids make the translation exact. A state whose version's table is not
known (e.g. pruned long ago) keeps no rows at all: its history is dropped and counted
(``BatchResult.reset``), never mis-mapped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streamrec.models.data.actions import Action
from streamrec.stream.records.schemas import InvalidEventError, Reason, Recommendation, StreamEvent
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.state import LEGACY_TAG, UserState, topic_tag


@dataclass(frozen=True)
class StepConfig:
    """The step's knobs (taken from Settings by the caller)."""

    top_k: int = 10
    recent_items: int = 50
    exclude_actions: frozenset[int] = frozenset({int(Action.BUY)})
    reemit_on_replay: bool = True
    reject_unknown_items: bool = False
    # topic name -> identity tag (streamrec.stream.serving.state.topic_tag with Kafka's topic id);
    # topics not listed are tagged by name alone
    topic_tags: Mapping[str, int] = field(default_factory=dict)


@dataclass
class BatchResult:
    """What a batch produced: one new state per touched user, outputs, rejects."""

    states: dict[str, UserState] = field(default_factory=dict)
    recommendations: list[Recommendation] = field(default_factory=list)
    rejected: list[tuple[StreamEvent, InvalidEventError]] = field(default_factory=list)
    duplicates: int = 0
    model_calls: int = 0
    reset: int = 0  # stored states of an unknown vocabulary: their rows were dropped


_NO_ROWS = np.zeros(0, np.int32)
_NO_ROWS.flags.writeable = False
_NO_ACTIONS = np.zeros(0, np.uint8)
_NO_ACTIONS.flags.writeable = False
_NO_SCORES = np.zeros(0, np.float16)
_NO_SCORES.flags.writeable = False


@dataclass(slots=True)
class _Pending:
    """One user's work in this batch."""

    user_id: str
    base: UserState | None
    recent: npt.NDArray[np.int32] = field(default_factory=lambda: _NO_ROWS)  # shared, read-only
    recent_actions: npt.NDArray[np.uint8] = field(default_factory=lambda: _NO_ACTIONS)
    prior: npt.NDArray[np.int32] = field(default_factory=lambda: _NO_ROWS)  # rows before items
    items: list[int] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    events: list[StreamEvent | None] = field(default_factory=list)  # None: re-encode step
    applied: dict[tuple[int, int], int] = field(default_factory=dict)  # new offsets by source
    excluded: set[int] = field(default_factory=set)
    top: npt.NDArray[np.int32] | None = None  # (K,) the last event's top-K rows
    scores: npt.NDArray[np.float16] | None = None  # (K,) and their scores
    buy: float = 0.0
    applied_events: int = 0  # events of this batch applied so far (re-encode steps excluded)


def _replay_recommendation(
    model: ServingModel, st: UserState, ev: StreamEvent, now: float
) -> Recommendation:
    rows = model.translate(st.model_version, st.top_items)
    item_ids: list[str] = []
    scores: list[float] = []
    if rows is not None:
        item_ids, scores = model.items(rows, st.top_scores)
    return Recommendation(
        user_id=ev.user_id,
        item_ids=item_ids,
        scores=scores,
        buy_probability=st.buy_prob,
        model_version=st.model_version,
        event_ts=ev.ts,
        emitted_ts=now,
        source=ev.source,
        event_count=st.event_count,
        event_id=ev.event_id,
        replayed=True,
    )


def _plan(
    states: Mapping[str, UserState | None],
    events: Iterable[StreamEvent],
    model: ServingModel,
    config: StepConfig,
    result: BatchResult,
    now: float,
) -> dict[str, _Pending]:
    """Group new events per user (in order), skipping replays and rejected items."""
    vocab = model.scorer.vocab
    pending: dict[str, _Pending] = {}
    seen: dict[tuple[str, int, int], int] = {}  # (user, tag, partition) -> last offset here
    replayed: set[str] = set()
    tags = dict(config.topic_tags)
    for ev in events:
        user, src = ev.user_id, ev.source
        tag = tags.get(src.topic)
        if tag is None:
            tag = tags[src.topic] = topic_tag(src.topic)
        st = states.get(user)
        last = seen.get((user, tag, src.partition))
        if (last is not None and src.offset <= last) or (
            st is not None and st.is_applied(tag, src.partition, src.offset)
        ):
            result.duplicates += 1
            if st is not None:
                replayed.add(user)
                if config.reemit_on_replay:
                    result.recommendations.append(_replay_recommendation(model, st, ev, now))
            continue
        if config.reject_unknown_items and ev.item_id not in vocab:
            err = InvalidEventError(Reason.UNKNOWN_ITEM, f"item {ev.item_id!r} not in vocabulary")
            result.rejected.append((ev, err))
            continue
        seen[(user, tag, src.partition)] = src.offset
        p = pending.get(user)
        if p is None:
            p = pending[user] = _Pending(user, st)
            if st is not None:
                rows = model.translate(st.model_version, st.recent_items)
                if rows is None:
                    result.reset += 1  # rows of an unknown vocabulary: dropped, not mis-mapped
                else:
                    p.recent, p.recent_actions = rows, st.recent_actions
                recent = zip(p.recent.tolist(), p.recent_actions.tolist(), strict=True)
                ex = config.exclude_actions
                p.excluded.update(i for i, a in recent if a in ex)
                if st.model_version != model.version:
                    # State made by another model: rebuild it from the recent items.
                    p.items.extend(p.recent.tolist())
                    p.actions.extend(p.recent_actions.tolist())
                    p.events.extend([None] * len(p.recent))
                else:
                    p.prior = p.recent
        p.items.append(vocab.index(ev.item_id))
        p.actions.append(int(ev.action))
        p.events.append(ev)
        p.applied[(tag, src.partition)] = src.offset
    for user in replayed - pending.keys():
        # Written again as it is: the local store may hold it while its changelog record
        # never reached the broker (killed in between); the replay is what repairs that.
        result.states[user] = states[user]  # type: ignore[assignment]
    return pending


def step_batch(
    states: Mapping[str, UserState | None],
    events: Sequence[StreamEvent],
    model: ServingModel,
    config: StepConfig,
    now: float,
) -> BatchResult:
    """Apply a micro-batch of events; return new states (one per user) and recommendations."""
    result = BatchResult()
    pending = _plan(states, events, model, config, result, now)
    if not pending:
        return result
    users = list(pending.values())
    scorer = model.scorer
    work = np.zeros((len(users), scorer.state_size), dtype=np.float32)  # (U, S)
    for i, p in enumerate(users):
        if p.base is not None and p.base.model_version == model.version:
            work[i] = p.base.state
    k = min(config.top_k, scorer.k)
    ex_actions = config.exclude_actions
    rounds = max(len(p.items) for p in users)
    for r in range(rounds):
        rows = [i for i, p in enumerate(users) if len(p.items) > r]
        batch = [users[i] for i in rows]
        items = np.fromiter((p.items[r] for p in batch), dtype=np.int64, count=len(batch))
        actions = np.fromiter((p.actions[r] for p in batch), dtype=np.int64, count=len(batch))
        for p in batch:
            if p.actions[r] in ex_actions:
                p.excluded.add(p.items[r])
        width = max(1, max(len(p.excluded) for p in batch))
        exclude = np.zeros((len(batch), width), dtype=np.int64)  # (B, E), 0 = padding
        for j, p in enumerate(batch):
            if p.excluded:
                exclude[j, : len(p.excluded)] = list(p.excluded)
        idx = np.asarray(rows)
        previous = _previous(batch, r, scorer.previous) if scorer.previous else None
        out = scorer.run(items, actions, work[idx], exclude, previous)
        result.model_calls += 1
        work[idx] = out.states
        top_items = out.top_items[:, :k]
        top_scores = out.top_scores[:, :k]
        # Whole-round conversions: the stored forms and the recommendations' lists.
        stored_top = top_items.astype(np.int32)  # (B, K)
        stored_scores = top_scores.astype(np.float16)  # (B, K)
        ids, values = model.items_of_rows(top_items, top_scores)
        buy = out.buy_prob.tolist()
        recommend = result.recommendations.append
        for j, p in enumerate(batch):
            ev = p.events[r]
            if ev is None:
                continue
            p.top, p.scores, p.buy = stored_top[j], stored_scores[j], buy[j]
            p.applied_events += 1
            base_count = p.base.event_count if p.base is not None else 0
            recommend(
                Recommendation(
                    user_id=p.user_id,
                    item_ids=ids[j],
                    scores=values[j],
                    buy_probability=p.buy,
                    model_version=model.version,
                    event_ts=ev.ts,
                    emitted_ts=now,
                    source=ev.source,
                    event_count=base_count + p.applied_events,
                    event_id=ev.event_id,
                )
            )
    stored_states = work.astype(np.float16)  # (U, S), one conversion for the batch
    for i, p in enumerate(users):
        result.states[p.user_id] = _new_state(
            p, stored_states[i], model.version, config.recent_items, now
        )
    return result


def _previous(batch: list[_Pending], r: int, width: int) -> npt.NDArray[np.int64]:
    """Each user's ``width`` items before its round-``r`` event, latest first (0 = none)."""
    out = np.zeros((len(batch), width), dtype=np.int64)
    for j, p in enumerate(batch):
        rows = p.items[max(0, r - width) : r][::-1]
        if len(rows) < width and len(p.prior):
            rows += p.prior[::-1][: width - len(rows)].tolist()
        out[j, : len(rows)] = rows
    return out


def _new_state(
    p: _Pending, state: npt.NDArray[np.float16], version: str, keep: int, now: float
) -> UserState:
    """The user's state after this batch (recent items, offsets and count carried over)."""
    base = p.base
    n_new = p.applied_events
    if base is not None:
        offsets = dict(base.offsets)
        for (tag, partition), offset in p.applied.items():
            offsets[(tag, partition)] = offset
            offsets.pop((LEGACY_TAG, partition), None)  # superseded by the tagged entry
        recent = np.concatenate([p.recent, np.asarray(p.items[-n_new:], np.int32)])[-keep:]
        acts = np.concatenate([p.recent_actions, np.asarray(p.actions[-n_new:], np.uint8)])[-keep:]
        count, last_ts = base.event_count, base.last_ts
    else:  # a new user: every step of the batch is one of its events
        offsets = dict(p.applied)
        recent = np.asarray(p.items[-keep:], np.int32)
        acts = np.asarray(p.actions[-keep:], np.uint8)
        count, last_ts = 0, 0.0
    for ev in p.events:
        if ev is not None and ev.ts > last_ts:
            last_ts = ev.ts
    return UserState(
        state=state,
        model_version=version,
        event_count=count + n_new,
        last_ts=last_ts,
        offsets=offsets,
        recent_items=recent,
        recent_actions=acts,
        top_items=p.top if p.top is not None else _NO_ROWS,
        top_scores=p.scores if p.scores is not None else _NO_SCORES,
        buy_prob=float(p.buy),
        updated=now,
    )
