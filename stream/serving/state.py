"""Per-user state and its compact binary encoding (the Faust table's value).

A user's state is what the worker needs to apply the next event exactly once and to answer
"what do you recommend now" without running the model:

- the recurrent state as float16 (``state_size`` values) and the model version that made it;
- the last N (item row, action) pairs, for exclusions and re-encoding under a new model;
- the event count and, per source topic and partition, the last applied offset (replays at
  or below it are skipped: exactly-once application). The topic is a 32-bit tag of its name
  and Kafka topic id (:func:`topic_tag`), so a recreated or renamed events topic starts
  from a clean slate instead of having its events dropped as replays;
- when it was last written (wall clock), for the idle-state expiry;
- the last top-K (item rows, float16 scores) and buy probability.

Layout (little-endian), format 2::

    header   <B B H Q d d e I B B B   format, flags, state_size, event_count, last_ts,
                                      updated, buy_prob, n_offsets, n_recent, n_top,
                                      version_len
    version  utf-8 bytes
    offsets  n_offsets x <I H q      (topic tag, partition, offset)
    state    state_size x float16
    recent   n_recent x int32 item rows, then n_recent x uint8 actions
    top      n_top x int32 item rows, then n_top x float16 scores

At hidden size 128, 50 recent items and K=10 that is about 640 bytes. Format 1 (no topic
tags, no ``updated``) is still read: its offsets get tag 0, which :meth:`UserState.is_applied`
takes for "the events topic", as format 1 meant.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT = 2
_HEADER = struct.Struct("<BBHQddeIBBB")
_OFFSET = struct.Struct("<IHq")
_HEADER_V1 = struct.Struct("<BBHQdeBBBB")
_OFFSET_V1 = struct.Struct("<Hq")
LEGACY_TAG = 0  # offsets of format-1 states: "the events topic"

Offsets = dict[tuple[int, int], int]  # (topic tag, partition) -> last applied offset


def topic_tag(topic: str, topic_id: str = "") -> int:
    """32-bit tag of a topic's identity: its name and, when known, Kafka's topic id."""
    return zlib.crc32(f"{topic}\0{topic_id}".encode()) or 1  # 0 is LEGACY_TAG


class StateDecodeError(ValueError):
    """Raised when stored bytes are not a user state this code can read."""


@dataclass(slots=True)
class UserState:
    """Everything stored for one user (see the module docstring)."""

    state: npt.NDArray[np.float16]  # (state_size,)
    model_version: str
    event_count: int = 0
    last_ts: float = 0.0
    offsets: Offsets = field(default_factory=dict)
    recent_items: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    recent_actions: npt.NDArray[np.uint8] = field(
        default_factory=lambda: np.zeros(0, dtype=np.uint8)
    )
    top_items: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    top_scores: npt.NDArray[np.float16] = field(
        default_factory=lambda: np.zeros(0, dtype=np.float16)
    )
    buy_prob: float = 0.0
    updated: float = 0.0  # wall clock of the last write (Unix seconds)

    def is_applied(self, tag: int, partition: int, offset: int) -> bool:
        """Whether the event at ``(topic tag, partition, offset)`` is already in this state."""
        last = self.offsets.get((tag, partition))
        if last is None:
            last = self.offsets.get((LEGACY_TAG, partition))
        return last is not None and offset <= last


_F2 = np.dtype("<f2")
_I4 = np.dtype("<i4")
_U1 = np.dtype(np.uint8)


def _raw(values: npt.NDArray[Any], dtype: np.dtype[Any]) -> bytes:
    """Bytes of ``values`` as ``dtype`` (no conversion when they already are: the hot case)."""
    return values.tobytes() if values.dtype == dtype else values.astype(dtype).tobytes()


def encode_state(s: UserState) -> bytes:
    """Binary form of a user state."""
    version = s.model_version.encode()
    if len(version) > 255:
        raise ValueError("model version longer than 255 bytes")  # names are checked far shorter
    recent, actions, top, scores = s.recent_items, s.recent_actions, s.top_items, s.top_scores
    if len(actions) != len(recent):
        raise ValueError(f"{len(recent)} recent items but {len(actions)} actions")
    if len(recent) > 255:
        recent, actions = recent[-255:], actions[-255:]
    if len(top) > 255:
        top, scores = top[:255], scores[:255]
    offsets = s.offsets
    if len(offsets) == 1:
        ((tag, partition), offset) = next(iter(offsets.items()))
        packed = _OFFSET.pack(tag, partition, offset)
    else:
        packed = b"".join(_OFFSET.pack(t, p, o) for (t, p), o in offsets.items())
    header = _HEADER.pack(
        FORMAT,
        0,
        len(s.state),
        s.event_count,
        s.last_ts,
        s.updated,
        s.buy_prob,
        len(offsets),
        len(recent),
        len(top),
        len(version),
    )
    return b"".join(
        (
            header,
            version,
            packed,
            _raw(s.state, _F2),
            _raw(recent, _I4),
            _raw(actions, _U1),
            _raw(top, _I4),
            _raw(scores[: len(top)], _F2),
        )
    )


_UPDATED = struct.Struct("<d")
_UPDATED_AT = 20  # byte offset of ``updated`` in a format-2 header


def state_updated(data: bytes) -> float:
    """When a stored state was last written (0.0: unknown, e.g. format 1), without decoding it."""
    if len(data) >= _HEADER.size and data[0] == FORMAT:
        return float(_UPDATED.unpack_from(data, _UPDATED_AT)[0])
    return 0.0


def is_idle(data: bytes, now: float, ttl_s: float) -> bool:
    """Whether a stored state was last written more than ``ttl_s`` before ``now``.

    States of unknown age (format 1) never count as idle: they get a time at their next write.
    """
    updated = state_updated(data)
    return 0.0 < updated < now - ttl_s


def decode_state(data: bytes) -> UserState:
    """Inverse of :func:`encode_state` (reads formats 1 and 2)."""
    updated = 0.0
    try:
        fmt = data[0]
        if fmt == FORMAT:
            (_, _flags, size, count, last_ts, updated, buy, n_off, n_recent, n_top, n_ver) = (
                _HEADER.unpack_from(data, 0)
            )
            pos, entry = _HEADER.size, _OFFSET
        elif fmt == 1:
            (_, _flags, size, count, last_ts, buy, n_off, n_recent, n_top, n_ver) = (
                _HEADER_V1.unpack_from(data, 0)
            )
            pos, entry = _HEADER_V1.size, _OFFSET_V1
        else:
            raise StateDecodeError(f"unknown state format {fmt}")
    except (struct.error, IndexError) as exc:
        raise StateDecodeError(f"truncated state header: {exc}") from None
    expected = pos + n_ver + n_off * entry.size + 2 * size + 5 * n_recent + 6 * n_top
    if len(data) != expected:
        raise StateDecodeError(f"state is {len(data)} bytes, layout says {expected}")
    try:
        version = data[pos : pos + n_ver].decode()
    except UnicodeDecodeError as exc:
        raise StateDecodeError(f"model version is not UTF-8: {exc}") from None
    pos += n_ver
    offsets: Offsets = {}
    for _ in range(n_off):
        if fmt == FORMAT:
            t, p, o = entry.unpack_from(data, pos)
        else:
            (p, o), t = entry.unpack_from(data, pos), LEGACY_TAG
        offsets[(t, p)] = o
        pos += entry.size
    state = np.frombuffer(data, _F2, size, pos)
    pos += 2 * size
    recent = np.frombuffer(data, _I4, n_recent, pos)
    pos += 4 * n_recent
    actions = np.frombuffer(data, _U1, n_recent, pos)
    pos += n_recent
    top = np.frombuffer(data, _I4, n_top, pos)
    pos += 4 * n_top
    scores = np.frombuffer(data, _F2, n_top, pos)
    return UserState(
        state=state,
        model_version=version,
        event_count=count,
        last_ts=last_ts,
        offsets=offsets,
        recent_items=recent,
        recent_actions=actions,
        top_items=top,
        top_scores=scores,
        buy_prob=float(buy),
        updated=updated,
    )
