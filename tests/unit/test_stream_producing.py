"""Unit tier: batched produce groups records per partition, in order, and reports last offsets."""

from __future__ import annotations

import asyncio
from typing import Any

from streamrec.stream.transport.producing import BatchSender, SentBatch


class _Meta:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Builder:
    def __init__(self, capacity: int) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.capacity = capacity

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes) -> _Meta | None:
        if len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return _Meta(len(self.records) - 1)


class _Producer:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sent: list[tuple[int, list[tuple[bytes | None, bytes]]]] = []
        self.next_offset: dict[int, int] = {}

    def create_batch(self) -> _Builder:
        return _Builder(self.capacity)

    async def send_batch(self, builder: _Builder, topic: str, *, partition: int) -> Any:
        self.sent.append((partition, builder.records))
        base = self.next_offset.get(partition, 0)
        self.next_offset[partition] = base + len(builder.records)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(_Meta(base))
        return fut


class _App:
    def __init__(self, producer: _Producer) -> None:
        self.producer = self
        self._inner = producer

    def _ensure_producer(self) -> _Producer:
        return self._inner


def test_records_go_in_one_batch_per_partition_split_when_full() -> None:
    producer = _Producer(capacity=2)
    acked: list[tuple[int, int]] = []

    async def scenario() -> None:
        sender = BatchSender(_App(producer))  # type: ignore[arg-type]
        records = [(0, b"a", b"1"), (1, b"b", b"2"), (0, b"c", b"3"), (0, b"d", b"4")]

        def on_sent(batch: SentBatch, last: int) -> None:
            acked.append((batch.partition, last))

        await sender.send("t", records, on_sent=on_sent)
        await asyncio.sleep(0)  # done callbacks

    asyncio.run(scenario())
    assert producer.sent == [
        (0, [(b"a", b"1"), (b"c", b"3")]),
        (0, [(b"d", b"4")]),
        (1, [(b"b", b"2")]),
    ]
    assert acked == [(0, 1), (0, 2), (1, 0)]
