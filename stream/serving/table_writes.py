"""Write a micro-batch's user states to the Faust table: RocksDB puts, batched changelog.

``table[key] = value`` sends one changelog message per key through Faust's producer buffer
(a pending-message object, a buffer task hop, a single send and a delivery callback each).
Here the states go to the same RocksDB partitions directly, one write batch per partition
(:class:`~streamrec.stream.transport.store.TableStore`), and their changelog records to one
aiokafka batch per partition; when the broker acknowledges a batch, the store's
persisted changelog offset moves to its last record, as Faust's own delivery callback does.
The batches are in the producer before the batch is acked, and Faust flushes the producer
before it commits offsets, so the changelog guarantee is the one ``table[key]`` gives.

Both agents of a worker write this table, and submitting a batch may wait (for metadata,
or for the partition's previous batch to leave the accumulator). A FIFO lock taken right
after the puts, before any ``await``, keeps each key's changelog records in the order of
its RocksDB writes, so compaction keeps the newest state.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterable

from faust.types import AppT, TableT

from streamrec.stream.serving.state import is_idle
from streamrec.stream.transport.producing import BatchSender, SentBatch
from streamrec.stream.transport.store import TableStore

Write = tuple[int, bytes, bytes]  # (the key's partition, key, value)


class TableWriter:
    """Batched writes to one raw-bytes Faust table."""

    def __init__(
        self,
        app: AppT,
        table: TableT[bytes, bytes],
        sender: BatchSender,
        kill_after_writing: bytes | None = None,
    ) -> None:
        self.app = app
        self.table = table
        self.store = TableStore(table)
        self.sender = sender
        # Fault injection (tests, chaos runs): die between the local write and the changelog.
        self.kill_after_writing = kill_after_writing
        self._order = asyncio.Lock()  # asyncio.Lock is FIFO: changelog order = write order

    def read_many(self, keys: Iterable[tuple[int, bytes]]) -> list[bytes | None]:
        """The stored value of each ``(partition, key)``, in order (None: absent).

        One RocksDB multi-get per partition instead of a lookup per key.
        """
        wanted = list(keys)
        by_partition: dict[int, list[int]] = {}
        for at, (partition, _) in enumerate(wanted):
            by_partition.setdefault(partition, []).append(at)
        values: list[bytes | None] = [None] * len(wanted)
        for partition, where in by_partition.items():
            found = self.store.get_many(partition, [wanted[at][1] for at in where])
            for at, value in zip(where, found, strict=True):
                values[at] = value
        return values

    async def write(self, writes: Iterable[Write]) -> list[SentBatch]:
        """Store each ``(partition, key, value)`` and changelog it.

        Returns the changelog batches; the caller must see them delivered before it lets
        the events that made these states be committed.
        """
        records = list(writes)
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for partition, key, value in records:
            by_partition.setdefault(partition, []).append((key, value))
        for partition, items in by_partition.items():
            self.store.put(partition, items)
        if self.kill_after_writing is not None and any(
            key == self.kill_after_writing for _, key, _ in records
        ):
            os.kill(os.getpid(), signal.SIGKILL)
        if not records:
            return []
        topic = self.table.changelog_topic.get_topic_name()
        async with self._order:
            return await self.sender.send(topic, records, on_sent=self._persisted)

    def idle_keys(self, now: float, ttl_s: float, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` ``(partition, key)`` of active partitions idle for over ``ttl_s``."""
        changelog = self.table.changelog_topic.get_topic_name()
        actives = {
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == changelog
        }
        found: list[tuple[int, bytes]] = []
        for partition in self.store.opened():
            if partition not in actives:
                continue
            for key, value in self.store.items(partition):
                if is_idle(value, now, ttl_s):
                    found.append((partition, key))
                    if len(found) >= limit:
                        return found
        return found

    async def expire(
        self, candidates: Iterable[tuple[int, bytes]], now: float, ttl_s: float
    ) -> tuple[int, list[SentBatch]]:
        """Delete the candidates still idle now and send their changelog tombstones.

        The re-check, the deletes and taking the order lock happen with no ``await`` in
        between, so an agent that wrote one of these users meanwhile keeps its state, and
        the tombstones enter the changelog in the order of the local writes.
        """
        opened = set(self.store.opened())
        records: list[tuple[int, bytes | None, bytes | None]] = []
        for partition, key in candidates:
            value = self.store.get(partition, key) if partition in opened else None
            if value is not None and is_idle(value, now, ttl_s):
                self.store.delete(partition, key)
                records.append((partition, key, None))
        if not records:
            return 0, []
        topic = self.table.changelog_topic.get_topic_name()
        async with self._order:
            return len(records), await self.sender.send(topic, records, on_sent=self._persisted)

    def _persisted(self, batch: SentBatch, last_offset: int) -> None:
        self.store.set_persisted_offset(batch.partition, last_offset)
