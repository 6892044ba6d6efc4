"""The item catalog in the worker: an items topic, an item-metadata table, cold-start rows.

:func:`attach_item_catalog` adds to a built worker app (after ``create_app``) an agent on
the items topic that stores every valid :class:`~models.catalog.ItemRecord` in the
``item-metadata`` table and, when :class:`ItemRows` is configured, gives each unseen item a
free vocabulary row whose vector is its text embedding through the serving model's learned
projection, then switches the processor to that graph between batches (as a hot swap does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.catalog import CatalogError, ItemRecord
from stream.processor import bind_event
from stream.settings import Settings
from stream.step import ServingModel

log = logging.getLogger(__name__)

TEXT_SIDE_FILE = "text_side.npz"
ITEMS_TABLE = "item-metadata"


class ItemRows:
    """Unseen items -> a serving model with their text-only rows (no torch)."""

    def __init__(self, encoder: Any, side: Any, bias_quantile: float = 0.5) -> None:
        self.encoder = encoder  # export.text_runtime.TextEncoder
        self.side = side  # models.text_fusion.TextSide
        self.bias_quantile = bias_quantile

    @classmethod
    def load(cls, settings: Settings) -> ItemRows | None:
        """From ``settings.item_text_dir``; None when cold start is not configured."""
        if settings.item_text_dir is None:
            return None
        from export.text_runtime import TextEncoder
        from models.text_fusion import TextSide

        directory = Path(settings.item_text_dir)
        side = TextSide.load(str(directory / TEXT_SIDE_FILE))
        return cls(TextEncoder(directory, threads=1), side, settings.new_item_bias_quantile)

    def add(self, model: ServingModel, records: Sequence[ItemRecord]) -> ServingModel | None:
        """A model that also scores the unseen ``records``; None when all are known."""
        from export.item_rows import ItemRowScorer
        from export.runtime import StepSession

        scorer = model.scorer
        if isinstance(scorer, StepSession):
            scorer = ItemRowScorer.from_session(scorer, threads=1)
        if not isinstance(scorer, ItemRowScorer):
            raise TypeError(f"cannot add rows to a {type(scorer).__name__}")
        fresh = {r.item_id: r for r in records if r.item_id not in scorer.vocab}
        if not fresh:
            return None
        texts = self.encoder.encode([r.text() for r in fresh.values()])
        vectors = self.side.text_row(texts)
        known = scorer.known_bias()
        bias = float(np.quantile(known, self.bias_quantile)) if len(known) else 0.0
        return ServingModel(scorer.with_items(list(fresh), vectors, bias))


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
) -> Any:
    """Items topic + metadata table + agent on a ``stream.app.StreamApp``; returns the table."""
    app = stream_app.app
    processor = stream_app.processor
    if settings.create_topics:
        ensure_items_topic(settings)  # Faust never subscribes to a topic missing at start
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
        help="Item catalog records by item id (models.catalog.ItemRecord JSON).",
    )

    async def items(stream: Any) -> None:
        loop = asyncio.get_running_loop()
        async for events in stream.take_events(batch, within=0.05):
            started = time.perf_counter()
            records = []
            for event in events:
                found = parse_items([event.value])
                if found:
                    bind_event(event)  # the table writes to this message's partition
                    table[found[0].item_id.encode()] = found[0].to_json()
                    records.extend(found)
            if rows is None or not records:
                continue
            while True:
                base = processor.model
                new = await loop.run_in_executor(None, rows.add, base, records)
                if new is None:
                    break
                if processor.model is base:  # no hot swap meanwhile; else redo on the new one
                    processor.model = new
                    log.warning(
                        "cold start: %d item rows live in %.2f s (vocabulary %d)",
                        len(records),
                        time.perf_counter() - started,
                        new.size,
                    )
                    break

    app.agent(topic, name="item-catalog")(items)
    return table


def ensure_items_topic(settings: Settings) -> None:
    """Create the compacted, one-partition items topic when it is missing."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap.split(","))
    try:
        admin.create_topics(
            [
                NewTopic(
                    settings.items_topic,
                    num_partitions=1,
                    replication_factor=settings.replication,
                    topic_configs={"cleanup.policy": "compact"},
                )
            ]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def publish_items(settings: Settings, records: Sequence[ItemRecord]) -> int:
    """Send records to the items topic keyed by item id; returns how many were sent."""
    from kafka import KafkaProducer

    ensure_items_topic(settings)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap.split(","), acks="all")
    try:
        for r in records:
            producer.send(settings.items_topic, key=r.item_id.encode(), value=r.to_json())
        producer.flush()
    finally:
        producer.close()
    return len(records)
