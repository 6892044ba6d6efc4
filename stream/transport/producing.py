"""Produce a micro-batch's records as one aiokafka record batch per partition.

``producer.send`` costs a future, an accumulator lookup and Faust's wrapper per record
(and Faust's changelog path a buffer hop more); a micro-batch's records instead go into one
``BatchBuilder`` per partition, submitted with ``send_batch``. The batches join the same
producer's accumulator; the caller tracks each batch's future
(:mod:`streamrec.stream.serving.outbox`) and lets nothing be committed past a batch that failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from faust.types import AppT

Record = tuple[int, bytes | None, bytes | None]  # (partition, key, value; None: tombstone)


@dataclass(frozen=True, slots=True)
class SentBatch:
    """One submitted batch: resolves to the metadata of its first record."""

    topic: str
    partition: int
    future: asyncio.Future[Any]
    last_delta: int  # offset of the last record relative to the first


class BatchSender:
    """Sends records through the Faust app's (started) aiokafka producer, batched."""

    def __init__(self, app: AppT) -> None:
        self.app = app

    def _producer(self) -> Any:
        return self.app.producer._ensure_producer()  # type: ignore[attr-defined]

    async def partition_count(self, topic: str) -> int:
        """How many partitions ``topic`` has (from the producer's metadata, fetched if unknown)."""
        return len(await self._producer().partitions_for(topic))

    async def send(
        self,
        topic: str,
        records: Iterable[Record],
        on_sent: Callable[[SentBatch, int], None] | None = None,
    ) -> list[SentBatch]:
        """Send records, one batch per partition (more if one fills), in order per partition.

        ``on_sent(batch, last_offset)`` runs when a batch is acknowledged by the broker.
        """
        producer = self._producer()
        grouped: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
        for partition, key, value in records:
            grouped.setdefault(partition, []).append((key, value))
        sent: list[SentBatch] = []
        for partition, items in grouped.items():
            builder, last = producer.create_batch(), -1
            for key, value in items:
                meta = builder.append(timestamp=None, key=key, value=value)
                if meta is None:  # full: submit it and start the next one
                    sent.append(await self._submit(topic, partition, builder, last, on_sent))
                    builder = producer.create_batch()
                    meta = builder.append(timestamp=None, key=key, value=value)
                    if meta is None:
                        raise ValueError(f"a record for {topic} is larger than a producer batch")
                last = meta.offset
            sent.append(await self._submit(topic, partition, builder, last, on_sent))
        return sent

    async def _submit(
        self,
        topic: str,
        partition: int,
        builder: Any,
        last: int,
        on_sent: Callable[[SentBatch, int], None] | None,
    ) -> SentBatch:
        future = await self._producer().send_batch(builder, topic, partition=partition)
        batch = SentBatch(topic, partition, future, last)

        def done(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled():
                return
            if fut.exception() is None and on_sent is not None:
                on_sent(batch, fut.result().offset + last)

        future.add_done_callback(done)
        return batch
