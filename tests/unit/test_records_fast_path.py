"""Unit tier: the plain-form shortcut of event parsing decides exactly as the full checks.

``parse_fields`` accepts events in their plainest form in one pass and sends everything else
through ``parse_fields_checked``. Generated objects mix plain values with every variant the
checks treat specially (case, padding, codes, milliseconds, control characters, bounds): an
event the shortcut takes must equal what the full checks make of it, and anything it
leaves must get the full checks' answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamrec.stream.records import parsing
from streamrec.stream.records.parsing import parse_fields, parse_fields_checked
from streamrec.stream.records.schemas import EventLimits, InvalidEventError, Source

NOW = 1_800_000_000.0
SRC = Source("events", 3, 41)
LIMITS = EventLimits(max_id_length=8, max_future_s=60.0, max_age_s=1e9)

IDS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["u1", " u1", "u1 ", "u\x00", "u\u2028", "\ud800", "", "12345678"]),
    st.just("123456789"),  # one over the limit
    st.integers(min_value=-2, max_value=2**64),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
ACTIONS = st.one_of(
    st.sampled_from(["click", "pv", "buy", "cart", "fav", "Click", " pv", "BUY", "teleport"]),
    st.integers(min_value=-1, max_value=6),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.just({"name": "click"}),
)
TIMES = st.one_of(
    st.floats(min_value=NOW - 2e9, max_value=NOW + 120),
    st.sampled_from([NOW, NOW + 59.0, NOW + 61.0, NOW - 1e9 - 1, 0.0, -1.0, 1e11, NOW * 1000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-1, max_value=2**70),
    st.booleans(),
    st.none(),
)


def _outcome(parse: Any, obj: dict[str, Any]) -> Any:
    try:
        return parse(obj, SRC, LIMITS, NOW)
    except InvalidEventError as exc:
        return (exc.reason, exc.detail)


FIELDS = {
    "user_id": IDS,
    "item_id": IDS,
    "action": ACTIONS,
    "ts": TIMES,
    "session_id": IDS,
    "event_id": IDS,
}
PLAIN = {"user_id": "u1", "item_id": "i9", "action": "click", "ts": NOW - 1.0, "event_id": "e"}


@settings(max_examples=3000, deadline=None)
@given(
    changes=st.fixed_dictionaries({}, optional=FIELDS),
    drop=st.sets(st.sampled_from(sorted(FIELDS)), max_size=2),
)
def test_shortcut_and_full_checks_agree(changes: dict[str, Any], drop: set[str]) -> None:
    # A plain event with a few fields changed or dropped: most examples sit near the
    # shortcut's edges (one value off its plain form), where a disagreement would hide.
    obj = {**PLAIN, **changes}
    for name in drop:
        obj.pop(name, None)
    assert _outcome(parse_fields, obj) == _outcome(parse_fields_checked, obj)


@pytest.mark.parametrize(
    "obj",
    [
        {"user_id": "u1", "item_id": "i9", "action": "click", "ts": NOW - 5.5},
        {"user_id": "u1", "item_id": "i9", "action": "buy", "ts": NOW, "event_id": "e-1"},
        {"user_id": "ü", "item_id": "i 9", "action": "pv", "ts": NOW, "session_id": "s"},
    ],
)
def test_plain_events_take_the_shortcut(obj: dict[str, Any]) -> None:
    event = parsing._parse_plain(obj, SRC, LIMITS, NOW)
    assert event is not None
    assert event == parse_fields_checked(obj, SRC, LIMITS, NOW)


@pytest.mark.parametrize(
    "change",
    [
        {"action": "Click"},
        {"action": 1},
        {"ts": NOW * 1000},
        {"ts": int(NOW)},
        {"user_id": " u1"},
        {"user_id": 42},
        {"item_id": "i\x07"},
        {"event_id": ""},
    ],
)
def test_other_forms_take_the_full_checks(change: dict[str, Any]) -> None:
    obj = {"user_id": "u1", "item_id": "i9", "action": "click", "ts": NOW, **change}
    assert parsing._parse_plain(obj, SRC, LIMITS, NOW) is None
