"""Unit tier: the pure batch step against a real tiny ONNX bundle, the state codec, schemas."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from streamrec.export.runtime import StepSession
from streamrec.models.data.actions import Action
from streamrec.stream.records.parsing import parse_event, parse_repartitioned
from streamrec.stream.records.schemas import (
    EventLimits,
    InvalidEventError,
    Reason,
    Source,
    StreamEvent,
)
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.state import (
    LEGACY_TAG,
    UserState,
    decode_state,
    encode_state,
    is_idle,
    state_updated,
    topic_tag,
)
from streamrec.stream.serving.step import StepConfig, step_batch
from tests.support.stream import event_json

NOW = 1_700_000_100.0
EVENTS = topic_tag("events")  # the tag step_batch gives the "events" topic by default


@pytest.fixture(scope="module")
def model(tiny_bundle: Path) -> ServingModel:
    return ServingModel(StepSession.open(tiny_bundle, provider="cpu", threads=1))


def ev(
    user: str, item: str, offset: int, action: Action = Action.CLICK, partition: int = 0
) -> StreamEvent:
    return StreamEvent(
        user, item, action, 1_700_000_000.0 + offset, Source("events", partition, offset)
    )


def test_batch_applies_each_users_events_in_order_with_one_state_per_user(
    model: ServingModel,
) -> None:
    events = [ev("a", "i1", 0), ev("b", "i2", 1), ev("a", "i3", 2), ev("a", "i4", 3)]
    res = step_batch({}, events, model, StepConfig(), NOW)
    assert set(res.states) == {"a", "b"}
    assert res.model_calls == 3  # user a has three events: three rounds
    assert [r.source.offset for r in res.recommendations if r.user_id == "a"] == [0, 2, 3]
    assert [r.event_count for r in res.recommendations if r.user_id == "a"] == [1, 2, 3]
    a = res.states["a"]
    assert a.event_count == 3 and a.offsets == {(EVENTS, 0): 3}
    assert a.recent_items.tolist() == [model.scorer.vocab.index(i) for i in ("i1", "i3", "i4")]
    # Same state as applying the events one at a time through the session.
    sess = model.scorer
    state = np.zeros((1, sess.state_size), np.float32)
    for item in ("i1", "i3", "i4"):
        out = sess.run(np.array([sess.vocab.index(item)]), np.array([1]), state)
        state = out.states
    np.testing.assert_allclose(a.state.astype(np.float32), state[0], atol=2e-3)
    rec = res.recommendations[-1]
    assert rec.model_version == "tiny-1" and len(rec.item_ids) == 10
    assert all(i.startswith("i") for i in rec.item_ids)
    assert rec.scores == sorted(rec.scores, reverse=True)


def test_split_batches_equal_one_batch(model: ServingModel) -> None:
    events = [ev("a", f"i{n}", n) for n in range(5)]
    whole = step_batch({}, events, model, StepConfig(), NOW).states["a"]
    first = step_batch({}, events[:2], model, StepConfig(), NOW).states
    second = step_batch(first, events[2:], model, StepConfig(), NOW).states["a"]
    assert second.event_count == whole.event_count == 5
    np.testing.assert_allclose(
        second.state.astype(np.float32), whole.state.astype(np.float32), atol=2e-3
    )


def test_replayed_events_are_not_applied_twice_but_answered(model: ServingModel) -> None:
    first = step_batch({}, [ev("a", "i1", 5), ev("a", "i2", 6)], model, StepConfig(), NOW)
    replay = [ev("a", "i1", 5), ev("a", "i2", 6), ev("a", "i7", 7)]
    res = step_batch(first.states, replay, model, StepConfig(), NOW)
    assert res.duplicates == 2
    assert res.states["a"].event_count == 3
    assert [(r.source.offset, r.replayed) for r in res.recommendations] == [
        (5, True),
        (6, True),
        (7, False),
    ]
    # Offsets are per source partition: the same offset elsewhere is a new event.
    other = step_batch(res.states, [ev("a", "i8", 5, partition=1)], model, StepConfig(), NOW)
    assert other.duplicates == 0 and other.states["a"].offsets == {(EVENTS, 0): 7, (EVENTS, 1): 5}
    quiet = step_batch(first.states, replay[:1], model, StepConfig(reemit_on_replay=False), NOW)
    assert quiet.recommendations == []
    # A batch of replays only writes the stored state again, unchanged (changelog repair).
    assert encode_state(quiet.states["a"]) == encode_state(first.states["a"])


def test_bought_items_are_excluded(model: ServingModel) -> None:
    base = step_batch({}, [ev("a", "i1", 0)], model, StepConfig(), NOW)
    best = base.recommendations[0].item_ids[0]
    res = step_batch(base.states, [ev("a", best, 1, Action.BUY)], model, StepConfig(), NOW)
    assert best not in res.recommendations[0].item_ids
    later = step_batch(res.states, [ev("a", "i2", 2)], model, StepConfig(), NOW)
    assert best not in later.recommendations[0].item_ids
    allowed = step_batch(
        base.states,
        [ev("a", best, 1, Action.BUY)],
        model,
        StepConfig(exclude_actions=frozenset()),
        NOW,
    )
    assert allowed.states["a"].event_count == 2


def test_unknown_items_accepted_or_rejected(model: ServingModel) -> None:
    res = step_batch({}, [ev("a", "nope", 0)], model, StepConfig(), NOW)
    assert res.states["a"].event_count == 1 and not res.rejected
    res = step_batch({}, [ev("a", "nope", 0)], model, StepConfig(reject_unknown_items=True), NOW)
    assert res.states == {} and res.rejected[0][1].reason is Reason.UNKNOWN_ITEM


def test_state_from_another_model_is_reencoded(model: ServingModel) -> None:
    res = step_batch({}, [ev("a", f"i{n}", n) for n in range(3)], model, StepConfig(), NOW)
    st = res.states["a"]
    old = UserState(**{**{f: getattr(st, f) for f in st.__slots__}, "model_version": "old"})
    known = ServingModel(model.scorer)
    known.remember("old", model.row_ids)  # same vocabulary, another version
    again = step_batch({"a": old}, [ev("a", "i3", 3)], known, StepConfig(), NOW)
    ref = step_batch({}, [ev("a", f"i{n}", n) for n in range(4)], model, StepConfig(), NOW)
    assert again.model_calls == 4 and again.states["a"].event_count == 4
    np.testing.assert_allclose(
        again.states["a"].state.astype(np.float32),
        ref.states["a"].state.astype(np.float32),
        atol=2e-3,
    )


def test_state_codec_roundtrip_and_size() -> None:
    st = UserState(
        state=np.random.default_rng(0).standard_normal(128).astype(np.float16),
        model_version="m-0123456789ab",
        event_count=123456,
        last_ts=1.7e9,
        offsets={(EVENTS, 0): 10, (7, 3): 2**40},
        recent_items=np.arange(50, dtype=np.int32),
        recent_actions=np.ones(50, dtype=np.uint8),
        top_items=np.arange(10, dtype=np.int32),
        top_scores=np.linspace(1, 0, 10).astype(np.float16),
        buy_prob=0.25,
    )
    data = encode_state(st)
    assert len(data) <= 1024
    back = decode_state(data)
    assert back.offsets == st.offsets and back.event_count == st.event_count
    assert back.model_version == st.model_version and back.buy_prob == 0.25
    np.testing.assert_array_equal(back.state, st.state)
    np.testing.assert_array_equal(back.recent_items, st.recent_items)
    np.testing.assert_array_equal(back.top_scores, st.top_scores)


def test_state_codec_converts_other_dtypes_and_refuses_unpaired_recents() -> None:
    st = UserState(
        state=np.linspace(-1, 1, 8),  # float64: stored as float16
        model_version="m",
        offsets={(EVENTS, 1): 5},
        recent_items=np.array([3, 4, 5], np.int64),
        recent_actions=np.array([1, 4, 1], np.int64),
        top_items=np.array([9, 8], np.int64),
        top_scores=np.array([0.5, 0.25], np.float32),
    )
    back = decode_state(encode_state(st))
    np.testing.assert_array_equal(back.state, st.state.astype(np.float16))
    assert back.recent_items.tolist() == [3, 4, 5] and back.recent_actions.tolist() == [1, 4, 1]
    assert back.top_items.tolist() == [9, 8] and back.top_scores.tolist() == [0.5, 0.25]
    with pytest.raises(ValueError, match="3 recent items but 2 actions"):
        encode_state(replace(st, recent_actions=np.array([1, 1], np.uint8)))


SRC = Source("events", 0, 1)
LIMITS = EventLimits()
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'{"item_id": "i1", "action": "click", "ts": 1}', Reason.MISSING_FIELD),
        (b'{"user_id": "u", "item_id": 1.5, "action": "click", "ts": 1}', Reason.WRONG_TYPE),
        (b'{"user_id": "u", "item_id": "i", "action": "teleport", "ts": 1}', Reason.UNKNOWN_ACTION),
        (b'{"user_id": "u", "item_id": "i", "action": "click", "ts": "x"}', Reason.WRONG_TYPE),
        (
            b'{"user_id": 12345678901234567890123456789, "item_id": "i", "action": "buy", "ts": 1}',
            Reason.INVALID_VALUE,
        ),
        (b'{"user_id": "", "item_id": "i", "action": "buy", "ts": 1}', Reason.INVALID_VALUE),
        (
            b'{"user_id": "u", "item_id": "i", "action": "buy", "ts": 1, "pad": "'
            + b"x" * 5000
            + b'"}',
            Reason.PAYLOAD_TOO_LARGE,
        ),
        (None, Reason.MALFORMED_JSON),
    ],
)
def test_bad_events_have_reasons(raw: bytes | None, reason: Reason) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event(raw, SRC, LIMITS, NOW)
    assert info.value.reason is reason


def test_good_events_parse_ids_and_timestamps() -> None:
    e = parse_event(event_json("u1", "i1", "pv", ts=1_700_000_000_500), SRC, LIMITS, NOW)
    assert e.ts == 1_700_000_000.5 and e.action is Action.CLICK
    e = parse_event(
        b'{"user_id": 7, "item_id": 9, "action": 4, "ts": 1700000000, "session_id": "s"}',
        SRC,
        LIMITS,
        NOW,
    )
    assert (e.user_id, e.item_id, e.action, e.session_id) == ("7", "9", Action.BUY, "s")
    assert parse_repartitioned(e.to_json(), LIMITS, NOW) == e


def test_offsets_know_their_topic(model: ServingModel) -> None:
    first = step_batch({}, [ev("a", "i1", 5), ev("a", "i2", 6)], model, StepConfig(), NOW)
    # The events topic recreated under the same name: Kafka gives it a new topic id, so
    # offsets 0.. are new events, not replays of the old topic's.
    recreated = StepConfig(topic_tags={"events": topic_tag("events", "new-topic-id")})
    res = step_batch(first.states, [ev("a", "i3", 0), ev("a", "i4", 1)], model, recreated, NOW)
    assert res.duplicates == 0 and res.states["a"].event_count == 4
    # ...while the old topic's positions stay recognised.
    again = step_batch(res.states, [ev("a", "i2", 6)], model, StepConfig(), NOW)
    assert again.duplicates == 1


def test_format_1_states_are_read_and_upgraded(model: ServingModel) -> None:
    import struct

    v1 = (
        struct.pack("<BBHQdeBBBB", 1, 0, 2, 3, 1.7e9, 0.5, 1, 1, 0, 2)
        + b"v1"
        + struct.pack("<Hq", 0, 41)
        + np.zeros(2, "<f2").tobytes()
        + struct.pack("<i", 5)
        + bytes([1])
    )
    st = decode_state(v1)
    assert st.offsets == {(LEGACY_TAG, 0): 41} and st.event_count == 3 and st.updated == 0
    assert st.is_applied(EVENTS, 0, 41) and not st.is_applied(EVENTS, 0, 42)
    res = step_batch({"a": st}, [ev("a", "i1", 41), ev("a", "i2", 42)], model, StepConfig(), NOW)
    assert res.duplicates == 1
    assert res.states["a"].offsets == {(EVENTS, 0): 42}
    assert res.states["a"].updated == NOW


def test_codec_has_no_small_limit_on_source_partitions() -> None:
    st = UserState(
        state=np.zeros(4, np.float16),
        model_version="m",
        offsets={(EVENTS, p): p for p in range(1000)},
    )
    assert decode_state(encode_state(st)).offsets == st.offsets


def test_idle_states_are_recognised_by_their_last_write() -> None:
    st = UserState(state=np.zeros(4, np.float16), model_version="m", updated=1000.0)
    data = encode_state(st)
    assert state_updated(data) == 1000.0
    assert is_idle(data, now=1000.0 + 61, ttl_s=60) and not is_idle(data, 1000.0 + 59, 60)
    unknown = encode_state(UserState(state=np.zeros(4, np.float16), model_version="m"))
    assert not is_idle(unknown, now=1e12, ttl_s=1)  # age unknown (format 1, never written)
