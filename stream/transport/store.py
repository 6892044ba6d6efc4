"""The RocksDB partitions behind a Faust table, reached directly; the table's current event.

Faust's table API (``table.get(key)``, ``table[key] = value``) goes through its mapping
wrappers, the store's key encoding and a lookup of the current event's partition for every
key: tens of microseconds per key on the hot path. A micro-batch already knows each user's
partition, so :class:`TableStore` reads and writes that partition's database itself (writes
as one RocksDB write batch per partition) and keeps Faust's persisted changelog offsets up
to date, as Faust's own changelog callback does.

Faust internals relied on (``tests/unit/test_framework_seam.py`` checks each of them):

- ``store._db_for_partition(p)``: the (opened on demand) rocksdict ``Rdict`` of partition ``p``,
  raw mode; ``store._dbs``: the partitions opened so far; ``store._visible_items(db)``.
- ``store.set_persisted_offset(tp, offset)``: where recovery resumes the changelog.
- ``faust.streams._current_event``: the contextvar (a weak reference) from which the
  store and the table read ``.message.partition`` and ``.message.topic`` of the event that
  Faust's table API applies to.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, cast

from faust.streams import _current_event
from faust.types import TP, EventT, Message, TableT
from rocksdict import WriteBatch


class HasMessage(Protocol):
    """What Faust's tables read of the current event: its message (topic, partition)."""

    @property
    def message(self) -> Message:
        """The Kafka message whose partition the table reads and writes."""
        ...


def bind_event(event: HasMessage) -> None:
    """Make ``event`` Faust's current event in this task.

    Faust picks a table key's partition (its RocksDB and changelog partition) from the
    current event's message. The agent task has none, and a batch spans partitions, so
    each user's access through Faust's table API is bound to an event (or any object with
    a ``.message``) of that user's partition. Faust holds it weakly: the caller keeps it
    alive meanwhile.
    """
    # Faust types the contextvar as holding events; it reads only ``.message`` of one.
    _current_event.set(weakref.ref(cast(EventT[Any], event)))


class TableStore:
    """Direct access to the per-partition RocksDB databases of one raw-bytes Faust table."""

    def __init__(self, table: TableT[bytes, bytes]) -> None:
        self.table = table

    @property
    def _store(self) -> Any:
        return self.table.data

    def get(self, partition: int, key: bytes) -> bytes | None:
        """The value of ``key`` in ``partition`` (None: absent)."""
        value: bytes | None = self._store._db_for_partition(partition).get(key)
        return value

    def get_many(self, partition: int, keys: list[bytes]) -> list[bytes | None]:
        """The values of ``keys`` in ``partition``, in order (None: absent), in one RocksDB call."""
        values: list[bytes | None] = self._store._db_for_partition(partition).get(keys)
        return values

    def put(self, partition: int, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Write ``items`` to ``partition`` in one RocksDB write batch."""
        batch = WriteBatch(raw_mode=True)
        for key, value in items:
            batch.put(key, value)
        self._store._db_for_partition(partition).write(batch)

    def delete(self, partition: int, key: bytes) -> None:
        """Delete ``key`` from ``partition``."""
        self._store._db_for_partition(partition).delete(key)

    def opened(self) -> list[int]:
        """The partitions whose database this worker opened."""
        return list(self._store._dbs)

    def items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """The visible ``(key, value)`` pairs of an opened partition."""
        db = self._store._dbs.get(partition)
        if db is not None:
            yield from self._store._visible_items(db)

    def set_persisted_offset(self, partition: int, offset: int) -> None:
        """Record that the changelog holds this partition's writes up to ``offset``."""
        topic = self.table.changelog_topic.get_topic_name()
        self._store.set_persisted_offset(TP(topic, partition), offset)
