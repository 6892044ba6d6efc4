"""Kafka's default partitioner (murmur2 of the record key), one key or a whole batch at once.

Producers, Faust and our routing all place a keyed record in partition
``murmur2(key) & 0x7fffffff % partitions``. aiokafka's murmur2 is pure Python (about a
microsecond per key); :func:`partitions_for_keys` runs the same arithmetic over a batch as
uint32 array operations, one pass per distinct key length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from aiokafka.partitioner import murmur2

_SEED = np.uint32(0x9747B28C)
_M = np.uint32(0x5BD1E995)
_R = np.uint32(24)


def partition_for_key(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner on a record key (what producers, Faust and routing use)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def partition_for_user(user_id: str, partitions: int) -> int:
    """The partition of records keyed by ``user_id``."""
    return partition_for_key(user_id.encode(), partitions)


def murmur2_many(keys: Sequence[bytes]) -> npt.NDArray[np.uint32]:
    """Kafka's murmur2 of each key, as unsigned 32-bit values (aiokafka's ``murmur2``)."""
    out = np.empty(len(keys), np.uint32)
    by_length: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        by_length.setdefault(len(key), []).append(i)
    with np.errstate(over="ignore"):
        for length, where in by_length.items():
            data = np.frombuffer(b"".join([keys[i] for i in where]), np.uint8)
            out[where] = _murmur2_same_length(data.reshape(len(where), length), length)
    return out


def _murmur2_same_length(data: npt.NDArray[np.uint8], length: int) -> npt.NDArray[np.uint32]:
    """murmur2 of the rows of ``data`` (n, length), uint32 arithmetic wrapping as Java's int."""
    h = np.full(len(data), _SEED ^ np.uint32(length & 0xFFFFFFFF), np.uint32)
    blocks = length // 4
    if blocks:
        words = np.ascontiguousarray(data[:, : 4 * blocks]).view("<u4")  # (n, blocks)
        for b in range(blocks):
            k = words[:, b] * _M
            k ^= k >> _R
            k *= _M
            h *= _M
            h ^= k
    tail = length % 4
    at = 4 * blocks
    if tail >= 3:
        h ^= data[:, at + 2].astype(np.uint32) << np.uint32(16)
    if tail >= 2:
        h ^= data[:, at + 1].astype(np.uint32) << np.uint32(8)
    if tail >= 1:
        h ^= data[:, at].astype(np.uint32)
        h *= _M
    h ^= h >> np.uint32(13)
    h *= _M
    h ^= h >> np.uint32(15)
    return h


def partitions_for_keys(keys: Sequence[bytes], partitions: int) -> npt.NDArray[np.int64]:
    """:func:`partition_for_key` of each key, in one pass over the batch."""
    hashed = murmur2_many(keys) & np.uint32(0x7FFFFFFF)
    return hashed.astype(np.int64) % partitions
