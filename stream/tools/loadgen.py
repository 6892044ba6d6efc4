"""The bench's load generator: paced, pre-encoded events in and their recommendations back.

It must cost less CPU per event than the worker it measures, or on a small machine the
figures say more about the generator than about the worker. So everything per event is
done before the clock starts (payload, key, partition), and on the clock the publisher hands
the events due at each tick to the producer as one record batch per partition (aiokafka's
compiled batch builder), stamping them all with the tick's time. The subscriber reads the
recommendations topic in fetch batches and reads only each record's ``event_id``, with a
byte search rather than a JSON parse.

Both run on one event loop in the calling thread; :func:`offer` returns when every event was
answered, or the answers stopped coming for ``idle_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamrec.stream.config.settings import Settings
from streamrec.stream.transport.partitioner import partition_for_key

TICK_S = 0.001  # the publisher's pacing step: events due are sent together each tick
WARMUP_MS = 1000  # the subscriber's first fetch, before the clock starts
_EVENT_ID = b'"event_id":"'


@dataclass(frozen=True)
class Offered:
    """What :func:`offer` measured: when each event was sent and its answer came back."""

    sent_at: npt.NDArray[np.float64]  # (events,) Unix time handed to the producer; nan: not
    answered_at: npt.NDArray[np.float64]  # (events,) first recommendation read; nan: none
    publish_s: float  # from the first send to the last

    @property
    def latencies_s(self) -> npt.NDArray[np.float64]:
        """Publish -> recommendation of each answered event."""
        done = ~np.isnan(self.answered_at)
        return self.answered_at[done] - self.sent_at[done]


def event_number(value: bytes, prefix: bytes) -> int | None:
    """The number ``k`` of a recommendation answering event id ``prefix + str(k)``, if it is one."""
    at = value.find(_EVENT_ID)
    if at < 0:
        return None
    start = at + len(_EVENT_ID)
    end = value.find(b'"', start)
    if end < 0 or not value.startswith(prefix, start):
        return None
    digits = value[start + len(prefix) : end]
    return int(digits) if digits.isdigit() else None


def offer(
    settings: Settings,
    messages: Sequence[tuple[bytes, bytes]],
    prefix: str,
    rate: float,
    idle_s: float = 10.0,
) -> Offered:
    """Publish ``(key, value)`` messages at ``rate``/s and time each one's recommendation.

    Message ``k``'s value must carry the event id ``prefix + str(k)``.
    """
    return asyncio.run(_offer(settings, messages, prefix.encode(), rate, idle_s))


async def _offer(
    settings: Settings,
    messages: Sequence[tuple[bytes, bytes]],
    prefix: bytes,
    rate: float,
    idle_s: float,
) -> Offered:
    kafka = settings.kafka.aiokafka()
    producer = AIOKafkaProducer(
        **kafka, client_id=settings.client_id("publisher"), acks=1, linger_ms=0
    )
    consumer = AIOKafkaConsumer(
        **kafka,
        client_id=settings.client_id("subscriber"),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await producer.start()
    await consumer.start()
    try:
        topic = settings.recommendations_topic
        parts = [TopicPartition(topic, p) for p in sorted(await producer.partitions_for(topic))]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)  # resolved now, before anything is published
        await consumer.getmany(timeout_ms=WARMUP_MS)  # connections to every leader made
        n = len(messages)
        sent_at = np.full(n, np.nan)
        answered_at = np.full(n, np.nan)
        reader = asyncio.ensure_future(_read(consumer, prefix, answered_at, idle_s))
        try:
            publish_s = await _publish(producer, settings.events_topic, messages, rate, sent_at)
            await reader
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        return Offered(sent_at, answered_at, publish_s)
    finally:
        await consumer.stop()
        await producer.stop()


async def _publish(
    producer: AIOKafkaProducer,
    topic: str,
    messages: Sequence[tuple[bytes, bytes]],
    rate: float,
    sent_at: npt.NDArray[np.float64],
) -> float:
    count = len(await producer.partitions_for(topic))
    partitions = [partition_for_key(key, count) for key, _ in messages]  # before the clock
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[object]] = []
    start = loop.time()
    sent = 0
    while sent < len(messages):
        due = len(messages)
        if rate > 0:
            due = min(due, int((loop.time() - start) * rate) + 1)
        if due > sent:
            by_partition: dict[int, list[int]] = {}
            for k in range(sent, due):
                by_partition.setdefault(partitions[k], []).append(k)
            now = time.time()
            for partition, numbers in by_partition.items():
                pending.extend(await _send(producer, topic, partition, messages, numbers))
            sent_at[sent:due] = now
            sent = due
        await asyncio.sleep(TICK_S)
    elapsed = loop.time() - start
    await asyncio.gather(*pending)
    return elapsed


async def _send(
    producer: AIOKafkaProducer,
    topic: str,
    partition: int,
    messages: Sequence[tuple[bytes, bytes]],
    numbers: list[int],
) -> list[asyncio.Future[object]]:
    futures = []
    batch = producer.create_batch()
    for k in numbers:
        key, value = messages[k]
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: send, go on
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)
    futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


async def _read(
    consumer: AIOKafkaConsumer, prefix: bytes, answered_at: npt.NDArray[np.float64], idle_s: float
) -> None:
    left = len(answered_at)
    last = time.monotonic()
    while left > 0 and time.monotonic() - last < idle_s:
        fetched = await consumer.getmany(timeout_ms=100)
        if not fetched:
            continue
        now = time.time()
        last = time.monotonic()
        for records in fetched.values():
            for record in records:
                k = event_number(record.value or b"", prefix)
                if k is not None and 0 <= k < len(answered_at) and np.isnan(answered_at[k]):
                    answered_at[k] = now
                    left -= 1
