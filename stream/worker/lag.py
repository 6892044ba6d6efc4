"""Consumer lag per partition, refreshed on a timer from the broker's end offsets.

The lag of a partition is what Kafka's own tools report: the messages between the group's
committed offset and the partition's end offset. It is read from the broker every
``lag_refresh_s``, not from fetch responses, so a worker that stops consuming shows its lag
grow instead of freezing the last value. Partitions this worker no longer owns lose their
series.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import cast

from aiokafka.errors import KafkaError
from faust.types import TP, AppT

from streamrec.stream.serving.metrics import Metrics
from streamrec.stream.transport.delivery import FetchGuardConsumer

log = logging.getLogger(__name__)


def lag_of(
    ends: Mapping[TP, int], committed: Mapping[TP, int | None], earliest: Mapping[TP, int]
) -> dict[TP, int]:
    """Messages from each partition's committed offset (its earliest when none) to its end."""
    lags = {}
    for tp, end in ends.items():
        start = committed.get(tp)
        if start is None:
            start = earliest.get(tp, 0)
        lags[tp] = max(0, end - start)
    return lags


class LagMonitor:
    """Sets ``streamrec_consumer_lag{topic, partition}`` for the assigned input partitions."""

    def __init__(self, app: AppT, metrics: Metrics, topics: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.topics = frozenset(topics)
        self._shown: set[tuple[str, str]] = set()

    async def refresh(self) -> None:
        """Read end and committed offsets once and update the gauge (never raises for Kafka)."""
        consumer = cast(FetchGuardConsumer, self.app.consumer)
        committed = {
            tp: offset
            for tp, offset in consumer.committed_offsets().items()
            if tp.topic in self.topics
        }
        try:
            ends = await consumer.highwaters(*committed) if committed else {}
            missing = [tp for tp, offset in committed.items() if offset is None]
            earliest = await consumer.earliest_offsets(*missing) if missing else {}
        except (KafkaError, OSError, TimeoutError) as exc:  # the broker is away: try again later
            log.warning("consumer lag not refreshed: %s", exc)
            return
        shown = set()
        for tp, lag in lag_of(ends, committed, earliest).items():
            key = (tp.topic, str(tp.partition))
            self.metrics.lag.labels(*key).set(lag)
            shown.add(key)
        for key in self._shown - shown:
            self.metrics.lag.remove(*key)
        self._shown = shown
