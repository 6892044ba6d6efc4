"""Write a micro-batch's user states to the Faust table: RocksDB puts, batched changelog.

``table[key] = value`` sends one changelog message per key through Faust's producer buffer
(a pending-message object, a buffer task hop, a single send and a delivery callback each).
Here the states go to the same RocksDB partitions directly and their changelog records to
one aiokafka batch per partition; when the broker acknowledges a batch, the store's
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
import weakref
from collections.abc import Iterable
from typing import Any, Protocol, cast

from faust.streams import _current_event  # the contextvar faust.streams.current_event reads
from faust.types import TP, AppT, EventT, Message, TableT

from streamrec.stream.serving.state import is_idle
from streamrec.stream.transport.producing import BatchSender, SentBatch


class HasMessage(Protocol):
    """What Faust's tables read of the current event: its message (topic, partition)."""

    @property
    def message(self) -> Message:
        """The Kafka message whose partition the table reads and writes."""
        ...


class Bound:
    """A stand-in for a Faust event, made of a message only: what tables need of one.

    The agents get bare messages (:mod:`streamrec.stream.transport.batching`), not events.
    """

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Message) -> None:
        self.message = message


Write = tuple[HasMessage, bytes, bytes]  # (an event of the key's partition, key, value)


def bind_event(event: HasMessage) -> None:
    """Make ``event`` Faust's current event in this task.

    Faust picks a table key's partition (its RocksDB and changelog partition) from the
    current event's message. The agent task has none, and a batch spans partitions, so
    each user's read and write is bound to an event (or :class:`Bound`) of that user's
    partition. Faust holds it weakly: the caller keeps it alive while it is bound.
    """
    # Faust types the contextvar as holding events; it reads only ``.message`` of one.
    _current_event.set(weakref.ref(cast(EventT[Any], event)))


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
        self.sender = sender
        # Fault injection (tests, chaos runs): die between the local write and the changelog.
        self.kill_after_writing = kill_after_writing
        self._order = asyncio.Lock()  # asyncio.Lock is FIFO: changelog order = write order

    async def write(self, writes: Iterable[Write]) -> list[SentBatch]:
        """Store each ``(event, key, value)`` in the event's partition and changelog it.

        Returns the changelog batches; the caller must see them delivered before it lets
        the events that made these states be committed.
        """
        if self.app.in_transaction:  # exactly-once mode persists offsets on commit: Faust's path
            for event, key, value in writes:
                bind_event(event)
                self.table[key] = value
            return []
        store: Any = self.table.data
        records = []
        for event, key, value in writes:
            bind_event(event)  # the store picks the RocksDB partition from the current event
            store[key] = value
            records.append((event.message.partition, key, value))
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
        store: Any = self.table.data
        changelog = self.table.changelog_topic.get_topic_name()
        actives = {
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == changelog
        }
        found: list[tuple[int, bytes]] = []
        for partition, db in list(store._dbs.items()):  # Faust's per-partition RocksDB handles
            if partition not in actives:
                continue
            for key, value in store._visible_items(db):
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
        store: Any = self.table.data
        records: list[tuple[int, bytes | None, bytes | None]] = []
        for partition, key in candidates:
            db = store._dbs.get(partition)
            value = db.get(key) if db is not None else None
            if value is not None and is_idle(value, now, ttl_s):
                del store[key]
                records.append((partition, key, None))
        if not records:
            return 0, []
        topic = self.table.changelog_topic.get_topic_name()
        async with self._order:
            return len(records), await self.sender.send(topic, records, on_sent=self._persisted)

    def _persisted(self, batch: SentBatch, last_offset: int) -> None:
        store: Any = self.table.data
        store.set_persisted_offset(TP(batch.topic, batch.partition), last_offset)
