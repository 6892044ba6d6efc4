"""Broker tier: a busy partition is not starved by a fetch request held for idle ones.

The broker client keeps one fetch request in flight per broker and leaves out of it the
partitions whose fetched records are still waiting to be taken. When the worker takes longer
than the client's prefetch backoff to come back for them, the next request covers only the
idle partitions and the broker holds it for the consumer's whole fetch wait; records of the
busy partition published meanwhile wait for it too. Faust's fixed wait made that 1.5 s; the
worker's consumer thread sets ``fetch_max_wait_ms`` instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from streamrec.stream.transport.delivery import StreamrecApp
from tests.support.kafka import Broker

BATCH = 50
WAIT_MS = 20.0


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


async def _starved_for(bootstrap: str, busy_topic: str, idle_topic: str) -> float:
    app = StreamrecApp(
        "fetch-wait-test",
        broker=f"kafka://{bootstrap}",
        autodiscover=False,
        fetch_max_wait_ms=WAIT_MS,
    )
    # The broker client exactly as the worker's consumer thread builds it.
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    busy, idle = TopicPartition(busy_topic, 0), TopicPartition(idle_topic, 0)
    consumer.assign([busy, idle])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    await consumer.start()
    try:
        await consumer.seek_to_beginning(busy, idle)
        await _publish(producer, busy_topic, 0)
        await _take(consumer, busy, idle, BATCH)
        # Records come in while the worker is busy for longer than the prefetch backoff:
        # the client's next request covers only the idle partition.
        await _publish(producer, busy_topic, BATCH)
        await asyncio.sleep(0.5)
        await _take(consumer, busy, idle, BATCH)
        await _publish(producer, busy_topic, 2 * BATCH)
        return await _take(consumer, busy, idle, BATCH)
    finally:
        await consumer.stop()
        await producer.stop()


def test_records_of_a_busy_partition_wait_at_most_about_the_fetch_wait(
    broker: Broker, new_topic: Callable[..., str]
) -> None:
    busy, idle = new_topic("fetch-busy", partitions=1), new_topic("fetch-idle", partitions=1)
    delays = [asyncio.run(_starved_for(broker.bootstrap, busy, idle)) for _ in range(2)]
    # Faust's own 1.5 s wait: about 1 s here; the worker's 20 ms: a few ms.
    assert min(delays) < 0.4, f"busy partition starved for {delays} s"
