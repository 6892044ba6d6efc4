"""Broker tier: a busy partition is not starved by a fetch request held for idle ones.

The broker client keeps one fetch request in flight per broker and leaves out of it the
partitions whose fetched records are still waiting to be taken (past its 100 ms prefetch
backoff). When the worker takes longer than that to come back for them, the next request
covers only the idle partitions and the broker holds it for the whole fetch wait; records of the
busy partition published meanwhile wait for it too. The worker's client holds fetched records
a second (no request without them meanwhile) and waits ``fetch_max_wait_ms``, not Faust's 1.5 s.

The control case (the client as Faust leaves it) shows the scenario starves; the worker's two
measures each prevent it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from streamrec.stream.transport.delivery import PREFETCH_HOLD_S, StreamrecApp
from tests.support.kafka import Broker

BATCH = 50
CLIENT_BACKOFF_S = 0.1  # aiokafka's own prefetch backoff
BUSY_S = 0.5  # the worker leaves fetched records waiting this long (over the client's backoff)


async def _publish(producer: AIOKafkaProducer, topic: str, first: int) -> None:
    for k in range(first, first + BATCH):
        await producer.send(topic, f"v{k}".encode(), partition=0)
    await producer.flush()


async def _take(consumer: Any, busy: TopicPartition, idle: TopicPartition, n: int) -> float:
    """Seconds until ``n`` records of ``busy`` were taken (getmany over both partitions)."""
    started, got = time.monotonic(), 0
    while got < n:
        fetched = await consumer.getmany(busy, idle, timeout_ms=5000)
        assert fetched, "no records within 5 s"
        got += len(fetched.get(busy, []))
    return time.monotonic() - started


async def _starved_for(
    bootstrap: str, busy_topic: str, idle_topic: str, hold_s: float, wait_ms: float | None
) -> float:
    app = StreamrecApp(
        "fetch-starvation-test",
        broker=f"kafka://{bootstrap}",
        autodiscover=False,
        fetch_max_wait_ms=wait_ms,
        prefetch_hold_s=hold_s,
    )
    # The broker client as the worker's consumer thread builds and starts it.
    thread = app.consumer._thread
    await thread.on_start()
    consumer = thread._consumer
    assert consumer._fetcher._prefetch_backoff == hold_s
    busy, idle = TopicPartition(busy_topic, 0), TopicPartition(idle_topic, 0)
    consumer.assign([busy, idle])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await consumer.seek_to_beginning(busy, idle)
        await _publish(producer, busy_topic, 0)
        await _take(consumer, busy, idle, BATCH)
        await _publish(producer, busy_topic, BATCH)
        await asyncio.sleep(BUSY_S)  # the worker is busy: the new records wait in the client
        await _take(consumer, busy, idle, BATCH)
        await _publish(producer, busy_topic, 2 * BATCH)
        return await _take(consumer, busy, idle, BATCH)
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.parametrize(
    ("hold_s", "wait_ms", "starves"),
    [
        (CLIENT_BACKOFF_S, None, True),  # control: the client as Faust leaves it
        (PREFETCH_HOLD_S, None, False),  # the worker's hold alone
        (CLIENT_BACKOFF_S, 20.0, False),  # a short fetch wait alone
    ],
    ids=["faust-client-starves", "prefetch-hold", "short-fetch-wait"],
)
def test_records_of_a_busy_partition_are_not_held_back_by_a_fetch_for_idle_ones(
    broker: Broker,
    new_topic: Callable[..., str],
    hold_s: float,
    wait_ms: float | None,
    starves: bool,
) -> None:
    busy, idle = new_topic("fetch-busy", partitions=1), new_topic("fetch-idle", partitions=1)
    delay = asyncio.run(_starved_for(broker.bootstrap, busy, idle, hold_s, wait_ms))
    if starves:
        assert delay > 0.7, f"the scenario did not starve the busy partition ({delay:.3f} s)"
    else:
        assert delay < 0.4, f"busy partition starved for {delay:.3f} s"
