"""Unit tier: nothing a message can hold escapes the intake, the pure step or the codecs.

The crafted messages are the ones that halted a partition before (each raised something
other than InvalidEventError); the property tests then generate well over 10,000 inputs
per run: arbitrary bytes, JSON-shaped objects built from hostile values, and valid events
with hostile ids run through the whole pure batch path.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamrec.export.runtime import StepSession
from streamrec.stream.records.intake import parse_records
from streamrec.stream.records.parsing import parse_event
from streamrec.stream.records.schemas import EventLimits, InvalidEventError, Reason, Source
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.state import decode_state, encode_state
from streamrec.stream.serving.step import StepConfig, step_batch
from streamrec.stream.tools.chaos.poison import POISON as CRAFTED
from tests.support.stream import event_json

NOW = 1_800_000_000.0
LIMITS = EventLimits()
SRC = Source("events", 0, 7)


def fuzz(examples: int) -> settings:
    """Hypothesis settings of one property (12,000 generated inputs per run in all)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


POISON = {p.name: p.raw for p in CRAFTED}  # name -> raw message
REASON = {p.name: p.reason for p in CRAFTED}


@pytest.fixture(scope="module")
def model(tiny_bundle: Path) -> ServingModel:
    return ServingModel(StepSession.open(tiny_bundle, provider="cpu", threads=1))


@pytest.mark.parametrize("name", sorted(POISON))
def test_crafted_poison_is_an_invalid_event(name: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event(POISON[name], SRC, LIMITS, NOW)
    assert info.value.reason is REASON[name]
    (letter,) = parse_records([(POISON[name], SRC)], False, LIMITS, NOW).dead
    assert letter.to_json()  # the dead letter itself is encodable


def test_ts_bounds_come_from_the_limits() -> None:
    ok = event_json("u", "i", ts=NOW + 3600)
    assert parse_event(ok, SRC, LIMITS, NOW).ts == NOW + 3600
    with pytest.raises(InvalidEventError, match="ahead"):
        parse_event(ok, SRC, EventLimits(max_future_s=60), NOW)
    old = event_json("u", "i", ts=NOW - 10 * 86_400)
    assert parse_event(old, SRC, LIMITS, NOW).ts == NOW - 10 * 86_400
    with pytest.raises(InvalidEventError, match="past"):
        parse_event(old, SRC, EventLimits(max_age_s=86_400), NOW)


def test_ids_keep_format_marks_but_not_controls() -> None:
    joined = "\U0001f469\u200d\U0001f4bb"  # an emoji sequence with a zero-width joiner
    assert parse_event(event_json(joined, "i"), SRC, LIMITS, NOW).user_id == joined
    with pytest.raises(InvalidEventError, match="U\\+001B"):
        parse_event(event_json("u\x1b[31m", "i"), SRC, LIMITS, NOW)


@pytest.mark.parametrize(
    "source",
    [
        None,
        "events",
        {"topic": "", "partition": 0, "offset": 1},
        {"topic": "e", "partition": -1, "offset": 1},
        {"topic": "e", "partition": 70_000, "offset": 1},
        {"topic": "e", "partition": 0, "offset": 2**63},
        {"topic": "e", "partition": True, "offset": 1},
        {"topic": "e\n", "partition": 0, "offset": 1},
    ],
)
def test_repartition_records_are_validated_like_events(source: object) -> None:
    raw = orjson.dumps(
        {"user_id": "u", "item_id": "i", "action": "click", "ts": 1.0, "source": source}
    )
    (letter,) = parse_records([(raw, SRC)], True, LIMITS, NOW).dead
    assert letter.reason in {Reason.MISSING_FIELD, Reason.INVALID_VALUE}


# --- generated inputs ------------------------------------------------------------------------

hostile_text = st.text(
    alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40
)
hostile_number = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
hostile_value = st.recursive(
    st.one_of(st.none(), hostile_text, hostile_number),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["user_id", "item_id", "action", "ts", "session_id", "event_id", "source"]
hostile_object = st.dictionaries(
    st.sampled_from(FIELDS) | hostile_text,
    hostile_value | st.sampled_from(["click", "buy", "pv", 4, 1_700_000_000, "u1"]),
    max_size=8,
)


def _json_bytes(obj: object) -> bytes:
    # The stdlib encoder writes what orjson refuses (NaN, lone surrogates escaped, huge ints):
    # exactly the kind of bytes a foreign producer can send.
    import json

    return json.dumps(obj, ensure_ascii=True).encode()


@fuzz(4000)
@given(raw=st.binary(max_size=300) | st.none(), repartitioned=st.booleans())
def test_arbitrary_bytes_never_escape(raw: bytes | None, repartitioned: bool) -> None:
    intake = parse_records([(raw, SRC)], repartitioned, LIMITS, NOW)
    assert intake.internal_errors == 0
    for letter in intake.dead:
        letter.to_json()


@fuzz(3000)
@given(obj=hostile_object, repartitioned=st.booleans())
def test_hostile_json_objects_never_escape(obj: dict[str, object], repartitioned: bool) -> None:
    raw = _json_bytes(obj)
    intake = parse_records([(raw, SRC)], repartitioned, LIMITS, NOW)
    assert intake.internal_errors == 0
    assert len(intake.valid) + len(intake.dead) == 1
    for letter in intake.dead:
        letter.to_json()
    for _, ev in intake.valid:
        ev.to_json()
        ev.user_id.encode()


event_fields = st.fixed_dictionaries(
    {
        "user_id": st.sampled_from(["u1", "u2", 7]) | hostile_text,
        "item_id": st.sampled_from(["i1", "i2", "i59", "nope", 3]) | hostile_text,
        "action": st.sampled_from(["click", "buy", "cart", "fav", 1, 4]),
        "ts": st.floats(min_value=1, max_value=NOW + 1e6) | st.integers(1, 2**62),
    },
    optional={
        "session_id": hostile_text,
        "event_id": hostile_text | st.integers(0, 2**63 - 1),
    },
)


@fuzz(3000)
@given(
    batch=st.lists(
        st.tuples(event_fields, st.integers(0, 3), st.integers(0, 2**63 - 1)),
        min_size=1,
        max_size=12,
    ),
    reject_unknown=st.booleans(),
)
def test_batch_path_never_escapes(
    model: ServingModel, batch: list[tuple[dict[str, object], int, int]], reject_unknown: bool
) -> None:
    records = [(_json_bytes(f), Source("events", p, o)) for f, p, o in batch]
    intake = parse_records(records, False, LIMITS, NOW)
    assert intake.internal_errors == 0
    events = [ev for _, ev in intake.valid]
    config = StepConfig(reject_unknown_items=reject_unknown)
    first = step_batch({}, events, model, config, NOW)
    again = step_batch(first.states, events, model, config, NOW)  # the same batch replayed
    assert not again.states or all(
        again.states[u].event_count == first.states[u].event_count for u in again.states
    )
    for result in (first, again):
        for state in result.states.values():
            assert decode_state(encode_state(state)).event_count == state.event_count
        for rec in result.recommendations:
            rec.to_json()
            rec.user_id.encode()


@pytest.mark.parametrize("name", sorted(POISON))
def test_the_trainer_skips_what_workers_dead_letter(name: str) -> None:
    from streamrec.stream.trainer.loop import stream_event

    assert stream_event(POISON[name], SRC, EventLimits()) is None


def test_a_far_future_event_never_reaches_the_trainers_window() -> None:
    import time

    from streamrec.stream.trainer.loop import stream_event

    # 9.9e10 s (year 5107) would pin the replay window's newest time for good.
    far = event_json("u", "i", ts=9.9e10)
    assert stream_event(far, SRC, EventLimits()) is None
    assert stream_event(event_json("u", "i", ts=time.time()), SRC, EventLimits()) is not None


@fuzz(2000)
@given(raw=st.binary(max_size=200) | hostile_object.map(_json_bytes))
def test_catalog_messages_never_escape(raw: bytes) -> None:
    from streamrec.models.data.catalog import CatalogError, ItemRecord

    with contextlib.suppress(CatalogError):  # CatalogError: dead-lettered as invalid record
        ItemRecord.from_json(raw).to_json()
