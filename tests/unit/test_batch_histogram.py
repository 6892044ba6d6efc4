"""The batch-fed histogram exposes exactly what prometheus_client's Histogram would."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streamrec.stream.serving.metrics import LATENCY_BUCKETS, BatchHistogram

pytestmark = pytest.mark.unit


def test_a_batch_of_observations_reads_like_one_observe_each() -> None:
    plain, batched = CollectorRegistry(), CollectorRegistry()
    one_by_one = Histogram("x_seconds", "doc", buckets=LATENCY_BUCKETS, registry=plain)
    at_once = BatchHistogram("x_seconds", "doc", LATENCY_BUCKETS, batched)
    rng = np.random.default_rng(0)
    # Values on bucket bounds too: a bound belongs to its own bucket (le = "less or equal").
    values = np.concatenate([rng.exponential(0.3, 500), np.asarray(LATENCY_BUCKETS), [0.0, 99.0]])
    for chunk in np.array_split(values, 7):
        for v in chunk:
            one_by_one.observe(float(v))
        at_once.observe_many(chunk)
    at_once.observe_many(np.zeros(0))
    want = [
        line
        for line in generate_latest(plain).decode().splitlines()
        if "_created" not in line and not line.startswith("x_seconds_sum")
    ]
    got = generate_latest(batched).decode().splitlines()
    assert [line for line in got if not line.startswith("x_seconds_sum")] == want
    total = float(next(line for line in got if line.startswith("x_seconds_sum")).split()[1])
    assert total == pytest.approx(values.sum())
