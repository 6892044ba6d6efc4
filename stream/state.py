"""Per-user state and its compact binary encoding (the Faust table's value).

A user's state is what the worker needs to apply the next event exactly once and to answer
"what do you recommend now" without running the model:

- the recurrent state as float16 (``state_size`` values) and the model version that made it;
- the last N (item row, action) pairs, for exclusions and re-encoding under a new model;
- the event count and, per source partition, the last applied offset (replays at or below
  it are skipped: exactly-once application);
- the last top-K (item rows, float16 scores) and buy probability.

Layout (little-endian)::

    header   <B B H Q d e B B B B   format, flags, state_size, event_count, last_ts,
                                    buy_prob, n_offsets, n_recent, n_top, version_len
    version  utf-8 bytes
    offsets  n_offsets x <H q      (partition, offset)
    state    state_size x float16
    recent   n_recent x int32 item rows, then n_recent x uint8 actions
    top      n_top x int32 item rows, then n_top x float16 scores

At hidden size 128, 50 recent items and K=10 that is about 620 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FORMAT = 1
_HEADER = struct.Struct("<BBHQdeBBBB")
_OFFSET = struct.Struct("<Hq")


class StateDecodeError(ValueError):
    """Raised when stored bytes are not a user state this code can read."""


@dataclass(slots=True)
class UserState:
    """Everything stored for one user (see the module docstring)."""

    state: npt.NDArray[np.float16]  # (state_size,)
    model_version: str
    event_count: int = 0
    last_ts: float = 0.0
    offsets: dict[int, int] = field(default_factory=dict)
    recent_items: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    recent_actions: npt.NDArray[np.uint8] = field(
        default_factory=lambda: np.zeros(0, dtype=np.uint8)
    )
    top_items: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    top_scores: npt.NDArray[np.float16] = field(
        default_factory=lambda: np.zeros(0, dtype=np.float16)
    )
    buy_prob: float = 0.0

    def is_applied(self, partition: int, offset: int) -> bool:
        """Whether the event at ``(partition, offset)`` is already in this state."""
        last = self.offsets.get(partition)
        return last is not None and offset <= last


def encode_state(s: UserState) -> bytes:
    """Binary form of a user state."""
    version = s.model_version.encode()
    if len(version) > 255 or len(s.offsets) > 255:
        raise ValueError("model version or offsets map too long to encode")
    n_recent = len(s.recent_items)
    n_top = len(s.top_items)
    parts = [
        _HEADER.pack(
            FORMAT,
            0,
            len(s.state),
            s.event_count,
            s.last_ts,
            s.buy_prob,
            len(s.offsets),
            n_recent,
            n_top,
            len(version),
        ),
        version,
        b"".join(_OFFSET.pack(p, o) for p, o in s.offsets.items()),
        s.state.astype("<f2", copy=False).tobytes(),
        s.recent_items.astype("<i4", copy=False).tobytes(),
        s.recent_actions.astype(np.uint8, copy=False).tobytes(),
        s.top_items.astype("<i4", copy=False).tobytes(),
        s.top_scores.astype("<f2", copy=False).tobytes(),
    ]
    return b"".join(parts)


def decode_state(data: bytes) -> UserState:
    """Inverse of :func:`encode_state`."""
    try:
        (fmt, _flags, size, count, last_ts, buy, n_off, n_recent, n_top, n_ver) = (
            _HEADER.unpack_from(data, 0)
        )
    except struct.error as exc:
        raise StateDecodeError(f"truncated state header: {exc}") from None
    if fmt != FORMAT:
        raise StateDecodeError(f"unknown state format {fmt}")
    pos = _HEADER.size
    expected = pos + n_ver + n_off * _OFFSET.size + 2 * size + 5 * n_recent + 6 * n_top
    if len(data) != expected:
        raise StateDecodeError(f"state is {len(data)} bytes, layout says {expected}")
    version = data[pos : pos + n_ver].decode()
    pos += n_ver
    offsets = {}
    for _ in range(n_off):
        p, o = _OFFSET.unpack_from(data, pos)
        offsets[p] = o
        pos += _OFFSET.size
    state = np.frombuffer(data, dtype="<f2", count=size, offset=pos)
    pos += 2 * size
    recent = np.frombuffer(data, dtype="<i4", count=n_recent, offset=pos)
    pos += 4 * n_recent
    actions = np.frombuffer(data, dtype=np.uint8, count=n_recent, offset=pos)
    pos += n_recent
    top = np.frombuffer(data, dtype="<i4", count=n_top, offset=pos)
    pos += 4 * n_top
    scores = np.frombuffer(data, dtype="<f2", count=n_top, offset=pos)
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
    )
