"""The batch partitioner places every key where Kafka's default partitioner does."""

from __future__ import annotations

import random

import numpy as np
from aiokafka.partitioner import murmur2

from streamrec.stream.transport.partitioner import (
    murmur2_many,
    partition_for_key,
    partitions_for_keys,
)


def _keys(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    raw = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 23))) for _ in range(n)]
    digits = [str(rng.randrange(10**7)).encode() for _ in range(n)]
    return raw + digits + ["ユーザー-ü".encode(), b"", b"a", b"ab", b"abc", b"abcd"]


def test_murmur2_of_a_batch_is_aiokafkas_key_by_key() -> None:
    keys = _keys(3000)
    want = np.array([murmur2(k) & 0xFFFFFFFF for k in keys], np.uint64)
    assert np.array_equal(murmur2_many(keys).astype(np.uint64), want)


def test_partitions_of_a_batch_match_one_key_at_a_time() -> None:
    keys = _keys(2000, seed=11)
    for partitions in (1, 3, 8, 12, 100):
        got = partitions_for_keys(keys, partitions).tolist()
        assert got == [partition_for_key(k, partitions) for k in keys]


def test_an_empty_batch() -> None:
    assert partitions_for_keys([], 8).shape == (0,)
