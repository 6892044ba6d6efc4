"""The poison messages the harness mixes into its load, each with the reason it must get.

Every one is a message that once escaped validation somewhere; the worker must turn each
into exactly one dead letter with this reason while the partition keeps moving.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamrec.stream.records.schemas import Reason


@dataclass(frozen=True, slots=True)
class Poison:
    """One crafted bad message and the dead-letter reason the worker gives it."""

    name: str
    raw: bytes
    reason: Reason


_EVENT = b'"item_id":"i1","action":"click","ts":1'

POISON: tuple[Poison, ...] = (
    Poison("not json", b"{user_id: u, item_id: i}", Reason.MALFORMED_JSON),
    Poison("deep nesting", b"[" * 2000, Reason.MALFORMED_JSON),
    Poison("a list", b'[{"user_id":"u"}]', Reason.NOT_AN_OBJECT),
    Poison("no user", b"{" + _EVENT + b"}", Reason.MISSING_FIELD),
    Poison("nested user", b'{"user_id":{"a":[1]},' + _EVENT + b"}", Reason.WRONG_TYPE),
    Poison("control char user", b'{"user_id":"u\\u0000",' + _EVENT + b"}", Reason.INVALID_VALUE),
    Poison(
        "unknown action",
        b'{"user_id":"u","item_id":"i1","action":"teleport","ts":1}',
        Reason.UNKNOWN_ACTION,
    ),
    Poison(
        "far future ts",
        b'{"user_id":"u","item_id":"i1","action":"click","ts":99000000000}',
        Reason.INVALID_VALUE,
    ),
    Poison(
        "huge float ts",
        b'{"user_id":"u","item_id":"i1","action":"click","ts":1e400}',
        Reason.MALFORMED_JSON,
    ),
    Poison("too large", b'{"user_id":"u","pad":"' + b"x" * 5000 + b'"}', Reason.PAYLOAD_TOO_LARGE),
    Poison(
        "invalid utf-8",
        b'{"user_id":"\xff\xfe","item_id":"i1","action":"click","ts":1}',
        Reason.MALFORMED_JSON,
    ),
    Poison(
        "ts overflow",
        b'{"user_id":"u","item_id":"i1","action":"click","ts":1' + b"0" * 400 + b"}",
        Reason.MALFORMED_JSON,
    ),
    Poison("surrogate user", b'{"user_id":"\\ud800",' + _EVENT + b"}", Reason.MALFORMED_JSON),
    Poison(
        "surrogate event id",
        b'{"user_id":"u",' + _EVENT + b',"event_id":"a\\udfff"}',
        Reason.MALFORMED_JSON,
    ),
    Poison(
        "huge action",
        b'{"user_id":"u","item_id":"i1","action":"' + b"x" * 3000 + b'","ts":1}',
        Reason.UNKNOWN_ACTION,
    ),
    Poison(
        "byte order mark",
        b"\xef\xbb\xbf{" + b'"user_id":"u",' + _EVENT + b"}",
        Reason.MALFORMED_JSON,
    ),
)

BY_RAW: dict[bytes, Poison] = {p.raw: p for p in POISON}
