"""Typed records at the worker's edges: input events, recommendations, dead letters.

Input is parsed by :mod:`streamrec.stream.records.parsing`; output records are dataclasses
encoded with orjson.

Input event JSON (one object per Kafka message, keyed by user id)::

    {"user_id": "u42", "item_id": 1001, "action": "click", "ts": 1700000000.5,
     "session_id": "u42-3", "event_id": "e-9"}

``user_id``/``item_id``/``session_id``/``event_id`` are strings or non-negative integers;
``action`` is a name (``click``, ``pv``, ``cart``, ``fav``, ``buy``, ...) or its code 1..4;
``ts`` is Unix time in seconds, or in milliseconds when it is >= 1e11 (which as seconds
would be the year 5138).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from streamrec.models.data.actions import Action

MS_THRESHOLD = 1e11  # ts at or above this is milliseconds
MAX_INT_ID = 2**63 - 1
RAW_KEEP_BYTES = 8192  # dead letters keep at most this much of an oversized payload
MAX_ACTION_LENGTH = 32
MAX_TOPIC_LENGTH = 249  # Kafka's own limit on topic names
MAX_PARTITION = 65_535  # the state codec stores partitions as uint16
REPARTITION_OVERHEAD = 512  # bytes a repartition record may add (source, normalized fields)


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
