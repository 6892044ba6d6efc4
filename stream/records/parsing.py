"""Parse untrusted input messages into :class:`~.schemas.StreamEvent`, or say exactly why not.

Input is parsed by hand from orjson output rather than through a model class: the worker
validates every event on the hot path and a bad one must yield a precise reason, never an
exception that escapes. Events in their plainest form take a one-pass shortcut
(:func:`parse_fields`); everything else goes through every check
(:func:`parse_fields_checked`), and a property test keeps the two deciding alike.
"""

from __future__ import annotations

import unicodedata
from typing import Any, TypeGuard, cast

import orjson

from streamrec.models.data.actions import (
    DEFAULT_ACTION_NAMES,
    Action,
    UnknownActionError,
    parse_action,
)
from streamrec.stream.records.schemas import (
    MAX_ACTION_LENGTH,
    MAX_INT_ID,
    MAX_PARTITION,
    MAX_TOPIC_LENGTH,
    MS_THRESHOLD,
    REPARTITION_OVERHEAD,
    EventLimits,
    InvalidEventError,
    Reason,
    Source,
    StreamEvent,
)

# Unicode categories refused inside ids: control characters and lone surrogates (which
# cannot even be encoded as UTF-8 on the way out).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})
# Action names as producers usually write them (lower case, no spaces): taken as they are.
_PLAIN_ACTIONS: dict[str, Action] = {
    name: action for name, action in DEFAULT_ACTION_NAMES.items() if name == name.strip().lower()
}


def _load(raw: bytes) -> dict[str, Any]:
    # orjson alone: it bounds nesting (1024), refuses numbers that overflow a double, lone
    # surrogates and raw control characters, and never raises anything but JSONDecodeError.
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventError(Reason.MALFORMED_JSON, str(exc)[:200]) from None
    if not isinstance(obj, dict):
        raise InvalidEventError(Reason.NOT_AN_OBJECT, f"got {type(obj).__name__}")
    return obj


def _optional_id(obj: dict[str, Any], name: str, max_len: int) -> str | None:
    value = obj.get(name)
    return None if value is None else _id(value, name, max_len)


def _required_id(obj: dict[str, Any], name: str, max_len: int) -> str:
    value = obj.get(name)
    if value is None:
        raise InvalidEventError(Reason.MISSING_FIELD, name)
    return _id(value, name, max_len)


def _bad_char(text: str) -> str | None:
    """The first control character or lone surrogate in ``text`` (None: clean)."""
    if text.isprintable():  # the common case, one C loop
        return None
    for ch in text:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            return ch
    return None  # other non-printables (format marks such as emoji joiners) are fine


def _id(value: object, name: str, max_len: int) -> str:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidEventError(Reason.INVALID_VALUE, f"{name} is empty")
        if len(text) > max_len:
            raise InvalidEventError(Reason.INVALID_VALUE, f"{name} longer than {max_len}")
        bad = _bad_char(text)
        if bad is not None:
            raise InvalidEventError(
                Reason.INVALID_VALUE, f"{name} holds control character U+{ord(bad):04X}"
            )
        return text
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value > MAX_INT_ID:
            raise InvalidEventError(Reason.INVALID_VALUE, f"{name} out of range 0..2^63-1")
        return str(value)
    if isinstance(value, float) and abs(value) > MAX_INT_ID:
        # orjson reads integers beyond 64 bits as floats.
        raise InvalidEventError(Reason.INVALID_VALUE, f"{name} out of range 0..2^63-1")
    raise InvalidEventError(Reason.WRONG_TYPE, f"{name} must be a string or an integer")


def _action(value: object) -> Action:
    if value is None:
        raise InvalidEventError(Reason.MISSING_FIELD, "action")
    if isinstance(value, int) and not isinstance(value, bool):
        if Action.CLICK <= value <= Action.BUY:
            return Action(value)
        raise InvalidEventError(Reason.UNKNOWN_ACTION, f"action code {value}")
    if not isinstance(value, str):
        raise InvalidEventError(Reason.WRONG_TYPE, "action must be a string or a code")
    if len(value) > MAX_ACTION_LENGTH:
        raise InvalidEventError(Reason.UNKNOWN_ACTION, f"action longer than {MAX_ACTION_LENGTH}")
    try:
        return parse_action(value, DEFAULT_ACTION_NAMES)
    except UnknownActionError as exc:
        raise InvalidEventError(Reason.UNKNOWN_ACTION, str(exc)[:200]) from None


def _ts(value: object, limits: EventLimits, now: float) -> float:
    if value is None:
        raise InvalidEventError(Reason.MISSING_FIELD, "ts")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventError(Reason.WRONG_TYPE, "ts must be a number")
    try:
        ts = float(value)
    except OverflowError:  # an integer too large for a double
        raise InvalidEventError(Reason.INVALID_VALUE, "ts out of range") from None
    if not 0 < ts < float("inf"):
        raise InvalidEventError(Reason.INVALID_VALUE, "ts must be positive and finite")
    if ts >= MS_THRESHOLD:
        ts /= 1000.0
        if ts >= MS_THRESHOLD:
            raise InvalidEventError(Reason.INVALID_VALUE, "ts too large for seconds or ms")
    if ts > now + limits.max_future_s:
        raise InvalidEventError(
            Reason.INVALID_VALUE,
            f"ts {ts:.0f} is more than {limits.max_future_s:.0f} s ahead of the worker's clock",
        )
    if limits.max_age_s is not None and ts < now - limits.max_age_s:
        raise InvalidEventError(
            Reason.INVALID_VALUE, f"ts {ts:.0f} is more than {limits.max_age_s:.0f} s in the past"
        )
    return ts


def _clean(value: object, max_len: int) -> TypeGuard[str]:
    """Whether ``value`` is an id string :func:`_id` would return unchanged (the common case)."""
    return (
        type(value) is str
        and 0 < len(value) <= max_len
        and value.isprintable()  # no control characters, no lone surrogates
        and not value[0].isspace()
        and not value[-1].isspace()
    )


def _parse_plain(
    obj: dict[str, Any], source: Source, limits: EventLimits, now: float
) -> StreamEvent | None:
    """The event when every field is in its plainest valid form; None: take the full checks.

    Producers almost always send clean string ids, a lower-case action name and seconds:
    those are accepted here in one pass with the same outcome as the full checks, which
    everything else (ints, codes, milliseconds, anything to refuse) goes through.
    """
    get = obj.get
    user, item, ts = get("user_id"), get("item_id"), get("ts")
    session, event = get("session_id"), get("event_id")
    name = get("action")
    action = _PLAIN_ACTIONS.get(name) if type(name) is str else None
    n = limits.max_id_length
    if (
        action is None
        or type(ts) is not float
        or not 0.0 < ts < MS_THRESHOLD
        or ts > now + limits.max_future_s
        or (limits.max_age_s is not None and ts < now - limits.max_age_s)
        or not _clean(user, n)
        or not _clean(item, n)
        or (session is not None and not _clean(session, n))
        or (event is not None and not _clean(event, n))
    ):
        return None
    return StreamEvent(user, item, action, ts, source, session, event)


def parse_fields(
    obj: dict[str, Any], source: Source, limits: EventLimits, now: float
) -> StreamEvent:
    """Validate a decoded JSON object into a :class:`StreamEvent`."""
    plain = _parse_plain(obj, source, limits, now)
    return plain if plain is not None else parse_fields_checked(obj, source, limits, now)


def parse_fields_checked(
    obj: dict[str, Any], source: Source, limits: EventLimits, now: float
) -> StreamEvent:
    """:func:`parse_fields` through every check, field by field (no plain-form shortcut)."""
    n = limits.max_id_length
    return StreamEvent(
        user_id=_required_id(obj, "user_id", n),
        item_id=_required_id(obj, "item_id", n),
        action=_action(obj.get("action")),
        ts=_ts(obj.get("ts"), limits, now),
        source=source,
        session_id=_optional_id(obj, "session_id", n),
        event_id=_optional_id(obj, "event_id", n),
    )


def _check_size(raw: bytes | None, limit: int) -> bytes:
    if raw is None:
        raise InvalidEventError(Reason.MALFORMED_JSON, "empty message (tombstone)")
    if len(raw) > limit:
        raise InvalidEventError(Reason.PAYLOAD_TOO_LARGE, f"{len(raw)} bytes > limit {limit}")
    return raw


def parse_event(raw: bytes | None, source: Source, limits: EventLimits, now: float) -> StreamEvent:
    """Validate one input message (raises :class:`InvalidEventError` with the reason).

    ``now``: the reader's clock (Unix seconds), for the bounds on ``ts``.
    """
    return parse_fields(_load(_check_size(raw, limits.max_payload_bytes)), source, limits, now)


def _source(value: object) -> Source:
    if not isinstance(value, dict):
        raise InvalidEventError(Reason.MISSING_FIELD, "source")
    topic, partition, offset = value.get("topic"), value.get("partition"), value.get("offset")
    if not isinstance(topic, str) or not 0 < len(topic) <= MAX_TOPIC_LENGTH:
        raise InvalidEventError(Reason.INVALID_VALUE, "source.topic must be a topic name")
    if _bad_char(topic) is not None:
        raise InvalidEventError(Reason.INVALID_VALUE, "source.topic holds a control character")
    bounds = (("partition", partition, MAX_PARTITION), ("offset", offset, MAX_INT_ID))
    for name, number, top in bounds:
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= top:
            raise InvalidEventError(Reason.INVALID_VALUE, f"source.{name} must be in 0..{top}")
    return Source(topic, cast(int, partition), cast(int, offset))


def parse_repartitioned(raw: bytes | None, limits: EventLimits, now: float) -> StreamEvent:
    """Validate a record of the repartition topic (:meth:`StreamEvent.to_json`'s form).

    The record is checked like an input event (its producer is a worker, but the topic is
    writable by anyone who can write the events topic), plus its ``source``.
    """
    obj = _load(_check_size(raw, limits.max_payload_bytes + REPARTITION_OVERHEAD))
    return parse_fields(obj, _source(obj.get("source")), limits, now)
