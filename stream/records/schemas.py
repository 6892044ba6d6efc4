"""Typed records at the worker's edges: input events, recommendations, dead letters.

Input is parsed by hand from orjson output rather than through a model class: the worker
validates every event on the hot path and a bad one must yield a precise reason, never an
exception that escapes. Output records are frozen dataclasses encoded with orjson.

Input event JSON (one object per Kafka message, keyed by user id)::

    {"user_id": "u42", "item_id": 1001, "action": "click", "ts": 1700000000.5,
     "session_id": "u42-3", "event_id": "e-9"}

``user_id``/``item_id``/``session_id``/``event_id`` are strings or non-negative integers;
``action`` is a name (``click``, ``pv``, ``cart``, ``fav``, ``buy``, ...) or its code 1..4;
``ts`` is Unix time in seconds, or in milliseconds when it is >= 1e11 (which as seconds
would be the year 5138).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, TypeGuard, cast

import orjson

from streamrec.models.data.actions import (
    DEFAULT_ACTION_NAMES,
    Action,
    UnknownActionError,
    parse_action,
)

MS_THRESHOLD = 1e11  # ts at or above this is milliseconds
MAX_INT_ID = 2**63 - 1
RAW_KEEP_BYTES = 8192  # dead letters keep at most this much of an oversized payload
MAX_ACTION_LENGTH = 32
MAX_TOPIC_LENGTH = 249  # Kafka's own limit on topic names
MAX_PARTITION = 65_535  # the state codec stores partitions as uint16
REPARTITION_OVERHEAD = 512  # bytes a repartition record may add (source, normalized fields)
# Unicode categories refused inside ids: control characters and lone surrogates (which
# cannot even be encoded as UTF-8 on the way out).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})


# Action names as producers usually write them (lower case, no spaces): taken as they are.
_PLAIN_ACTIONS: dict[str, Action] = {
    name: action for name, action in DEFAULT_ACTION_NAMES.items() if name == name.strip().lower()
}


class Reason(StrEnum):
    """Why an input message was dead-lettered."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    UNKNOWN_ACTION = "unknown_action"
    UNKNOWN_ITEM = "unknown_item"
    INVALID_CATALOG_RECORD = "invalid_catalog_record"  # a bad message on the items topic
    INTERNAL_ERROR = "internal_error"  # the worker failed on it (a bug: logged and counted)


@dataclass(frozen=True, slots=True)
class EventLimits:
    """Bounds every input event is checked against (from the settings)."""

    max_payload_bytes: int = 4096
    max_id_length: int = 128
    max_future_s: float = 86_400.0  # ts further ahead of the reader's clock is refused
    max_age_s: float | None = None  # ts further in the past is refused (None: no bound)


class InvalidEventError(ValueError):
    """An input message that cannot be applied; carries the dead-letter reason."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class Source(NamedTuple):
    """Where a record was read: the original input topic, partition and offset.

    A named tuple, not a frozen dataclass: one is made per message on the hot path, and a
    frozen dataclass costs three times as much to construct.
    """

    topic: str
    partition: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


def encode_event(
    user_id: str,
    item_id: str,
    action: str,
    ts: float,
    *,
    session_id: str | None = None,
    event_id: str | None = None,
) -> bytes:
    """An input event in the wire format producers write (the one encoder of it)."""
    obj: dict[str, Any] = {"user_id": user_id, "item_id": item_id, "action": action, "ts": ts}
    if session_id is not None:
        obj["session_id"] = session_id
    if event_id is not None:
        obj["event_id"] = event_id
    return orjson.dumps(obj)


@dataclass(slots=True)
class StreamEvent:
    """A validated input event with its source position (never changed once made).

    Not declared frozen: a frozen dataclass costs three times as much to construct, and one
    is made per event on the hot path.
    """

    user_id: str
    item_id: str
    action: Action
    ts: float  # Unix seconds
    source: Source
    session_id: str | None = None
    event_id: str | None = None

    def to_json(self) -> bytes:
        """Normalized form (used by the repartition topic, which keeps the original source)."""
        return orjson.dumps(
            {
                "user_id": self.user_id,
                "item_id": self.item_id,
                "action": self.action.name.lower(),
                "ts": self.ts,
                "session_id": self.session_id,
                "event_id": self.event_id,
                "source": self.source.to_dict(),
            }
        )


@dataclass(slots=True)
class Recommendation:
    """A user's fresh top-K after an event (the output topic's record; never changed once made).

    Not declared frozen, for the same reason as :class:`StreamEvent`.
    """

    user_id: str
    item_ids: list[str]  # external ids, best first
    scores: list[float]  # model scores, same order
    buy_probability: float
    model_version: str
    event_ts: float
    emitted_ts: float
    source: Source
    event_count: int
    event_id: str | None = None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "user_id": self.user_id,
            "items": [
                {"item_id": i, "score": s} for i, s in zip(self.item_ids, self.scores, strict=True)
            ],
            "buy_probability": self.buy_probability,
            "model_version": self.model_version,
            "event_ts": self.event_ts,
            "emitted_ts": self.emitted_ts,
            "source": self.source.to_dict(),
            "event_count": self.event_count,
            "event_id": self.event_id,
            "replayed": self.replayed,
        }

    def to_json(self) -> bytes:
        """Wire form."""
        return orjson.dumps(self.to_dict())


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input message that was not applied, with why and where it came from."""

    reason: Reason
    detail: str
    raw: str
    source: Source
    truncated: bool = False

    @classmethod
    def from_error(cls, raw: bytes, source: Source, error: InvalidEventError) -> DeadLetter:
        """Dead letter for ``raw`` (kept as text; oversized payloads are truncated)."""
        keep = raw[:RAW_KEEP_BYTES]
        return cls(
            reason=error.reason,
            detail=error.detail,
            raw=keep.decode("utf-8", errors="replace"),
            source=source,
            truncated=len(keep) < len(raw),
        )

    def to_json(self) -> bytes:
        """Wire form."""
        return orjson.dumps(
            {
                "reason": self.reason.value,
                "detail": self.detail,
                "raw": self.raw,
                "source": self.source.to_dict(),
                "truncated": self.truncated,
            }
        )


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
