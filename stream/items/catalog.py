"""The item catalog in the worker: an items topic, an item-metadata table, cold-start rows.

:func:`attach_item_catalog` adds to a built worker app (after ``create_app``) an agent on the
items topic that stores every valid :class:`~streamrec.models.data.catalog.ItemRecord` in the
``item-metadata`` table. With :class:`~streamrec.stream.items.cold_start.ItemRows` configured, an
:class:`ItemCatalog` task keeps every stored item scorable: an item the serving model does not
know gets a free vocabulary row whose vector is its text embedding through the serving
bundle's learned projection, and the processor switches to that graph between batches (as a
hot swap does). After a hot swap or a
table recovery it checks the whole table again, so an item announced but never clicked (hence
missing from a newly trained vocabulary) comes back with the new bundle's projection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from streamrec.models.data.catalog import CatalogError, ItemRecord
from streamrec.stream.config.settings import ITEMS_TABLE, Settings
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.slot import ModelSlot
from streamrec.stream.transport.store import bind_event

if TYPE_CHECKING:
    from streamrec.stream.items.cold_start import ItemRows

log = logging.getLogger(__name__)

SCAN_YIELD = 10_000  # table keys checked between two yields to the event loop


class ItemCatalog:
    """Stored items and the serving model's rows for them (:meth:`run` is their only writer).

    ``table`` maps item id bytes to record JSON (the Faust table, or a dict in tests).
    """

    def __init__(self, slot: ModelSlot, table: Any, rows: ItemRows | None) -> None:
        self.slot = slot
        self.table = table
        self.rows = rows
        self._new: dict[str, ItemRecord] = {}
        self._covered: ServingModel | None = None  # a model known to score every stored item
        self._wake = asyncio.Event()
        self._since: float | None = None

    def announce(self, records: Sequence[ItemRecord]) -> None:
        """Records just stored in the table (call on the event loop)."""
        if self.rows is None:
            return
        self._new.update((r.item_id, r) for r in records)
        self._wake_up()

    def rescan(self, *_: object) -> None:
        """Check every stored item again (after a hot swap or a table recovery)."""
        self._covered = None
        if self.rows is not None:
            self._wake_up()

    def _wake_up(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()
        self._wake.set()

    async def run(self) -> None:
        """Forever: after each wake-up, give the serving model the rows it lacks."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.cover()

    async def cover(self) -> None:
        """Add rows for the stored items the serving model does not know (one pass)."""
        from streamrec.export.errors import ExportError, SessionError
        from streamrec.models.data.vocab import VocabularyFullError

        assert self.rows is not None
        base = self.slot.model
        todo = list(self._new.values()) if base is self._covered else await self.missing(base)
        self._new.clear()
        new = None
        if todo:
            loop = asyncio.get_running_loop()
            try:
                new = await loop.run_in_executor(None, self.rows.add, base, todo)
            except (VocabularyFullError, ExportError, SessionError, OSError, ValueError) as exc:
                log.error("cold start: %d items got no row: %s", len(todo), exc)
        if self.slot.model is not base:  # hot-swapped meanwhile: the next pass redoes it all
            self._wake.set()
            return
        if new is not None:
            self.slot.swap(new)
            started = self._since if self._since is not None else time.perf_counter()
            log.warning(
                "cold start: %d item rows live in %.2f s (model %s, vocabulary %d)",
                new.size - base.size,
                time.perf_counter() - started,
                new.version,
                new.size,
            )
        self._covered = self.slot.model
        self._since = None

    async def missing(self, model: ServingModel) -> list[ItemRecord]:
        """Stored records ``model`` does not know (the whole table, yielding now and then)."""
        vocab = model.scorer.vocab
        out: list[ItemRecord] = []
        for n, key in enumerate(list(self.table.keys())):
            if n and n % SCAN_YIELD == 0:
                await asyncio.sleep(0)
            if key.decode() not in vocab:
                raw = self.table.get(key)
                out.extend(parse_items([raw] if raw is not None else []))
        return out


def parse_items(values: Sequence[bytes]) -> list[ItemRecord]:
    """Valid records of a batch of messages (bad ones are logged and skipped)."""
    out = []
    for raw in values:
        try:
            out.append(ItemRecord.from_json(raw))
        except CatalogError as exc:
            log.warning("skipped item message: %s", exc)
    return out


def attach_item_catalog(
    stream_app: Any, settings: Settings, rows: ItemRows | None, batch: int = 256
) -> ItemCatalog:
    """Items topic, metadata table and agent (plus the row keeper when ``rows`` is given)."""
    app = stream_app.app
    topic = app.topic(
        settings.items_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    table = app.GlobalTable(
        ITEMS_TABLE,
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=1,  # co-partitioned with the one-partition items topic
        help="Item catalog records by item id (streamrec.models.data.catalog.ItemRecord JSON).",
    )
    catalog = ItemCatalog(stream_app.slot, table, rows)

    async def items(stream: Any) -> None:
        async for events in stream.take_events(batch, within=0.05):
            records = []
            for event in events:
                bind_event(event)  # the table writes to this message's partition
                if event.value is None:  # a tombstone: the item leaves the catalog
                    if event.key is not None:
                        table.pop(event.key, None)
                    continue
                try:
                    record = ItemRecord.from_json(event.value)
                except CatalogError as exc:
                    await _dead_letter(app, settings, stream_app.processor, event, exc)
                    continue
                table[record.item_id.encode()] = record.to_json()
                records.append(record)
            if records:
                catalog.announce(records)

    async def recovered() -> None:
        catalog.rescan()  # on start and after a rebalance: items stored before it

    app.agent(topic, name="item-catalog")(items)
    if rows is not None:
        table.on_recover(recovered)
        app.task(catalog.run)
    return catalog


async def _dead_letter(
    app: Any, settings: Settings, processor: Any, event: Any, error: CatalogError
) -> None:
    """An invalid catalog message goes to the dead-letter topic with the reason."""
    from streamrec.stream.records.schemas import DeadLetter, InvalidEventError, Reason, Source

    msg = event.message
    letter = DeadLetter.from_error(
        event.value if isinstance(event.value, bytes) else str(event.value).encode(),
        Source(msg.topic, msg.partition, msg.offset),
        InvalidEventError(Reason.INVALID_CATALOG_RECORD, str(error)),
    )
    log.warning("item message dead-lettered: %s", error)
    processor.metrics.dead_letters.labels(letter.reason.value).inc()
    sends = processor.outbox.batch()
    await sends.send(
        app.producer,
        "dead_letter",
        settings.dead_letter_topic,
        None,
        letter.to_json(),
        None,
        None,
        None,
    )
    delivered = sends.settled()
    if delivered is not None:
        await delivered  # before the message is acked (low volume: one wait per bad record)


def ensure_items_topic(settings: Settings) -> None:
    """Create the items topic when missing (declared in :mod:`streamrec.stream.config.topics`)."""
    from streamrec.stream.config.topics import create_topics, items_topic

    create_topics(settings.kafka, [items_topic(settings)], settings.client_id("admin"))


def publish_items(settings: Settings, records: Sequence[ItemRecord]) -> int:
    """Send records to the items topic keyed by item id; returns how many were sent."""
    from kafka import KafkaProducer

    ensure_items_topic(settings)
    producer = KafkaProducer(**settings.kafka.kafka_python(), acks="all")
    try:
        for r in records:
            producer.send(settings.items_topic, key=r.item_id.encode(), value=r.to_json())
        producer.flush()
    finally:
        producer.close()
    return len(records)
