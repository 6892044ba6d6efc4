"""The demo's item-text part: a titled catalog, and a brand-new item announced mid-stream.

The catalog comes from :mod:`streamrec.models.data.catalog_synthetic` (titles carry the generator's
latent topics). :class:`NewItemWatch` announces an item nobody has clicked, titled like the live
stream's most popular item, on the items topic, and times how long until the worker puts it in some
user's top-K (issue 7's target: within 10 s).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from streamrec.models.data.catalog import ItemRecord, write_catalog
from streamrec.models.data.catalog_synthetic import synthetic_catalog
from streamrec.models.data.synthetic import SyntheticConfig

NEW_ITEM_ID = "new-1"


def write_demo_catalog(synth: SyntheticConfig, path: Path) -> Path:
    """The generator's items with titles from their topics."""
    return write_catalog(synthetic_catalog(synth), path)


def new_item_like(catalog: Path, live: Path) -> ItemRecord:
    """A new item titled like the live stream's most clicked item (same topic words)."""
    from streamrec.models.data.catalog import load_catalog

    counts: Counter[str] = Counter()
    with live.open() as fh:
        next(fh)
        for line in fh:
            counts[line.split(",", 2)[1]] += 1
    records = {r.item_id: r for r in load_catalog(catalog)}
    top = next(i for i, _ in counts.most_common() if i in records)
    base = records[top]
    return base.model_copy(update={"item_id": NEW_ITEM_ID, "brand": "Brand-new"})


class NewItemWatch:
    """Announce one new item, then note the first recommendation that contains it."""

    def __init__(self, item: ItemRecord) -> None:
        self.item = item
        self.announced: float | None = None
        self.seen: float | None = None
        self.where: str = ""
        self._lock = threading.Lock()

    def announce(self, env: dict[str, str]) -> None:
        """Publish the item to the demo's items topic."""
        from streamrec.stream.config.settings import load_settings
        from streamrec.stream.items.catalog import publish_items

        settings = load_settings(
            bootstrap=env["STREAMREC_BOOTSTRAP"], items_topic=env["STREAMREC_ITEMS_TOPIC"]
        )
        publish_items(settings, [self.item])
        with self._lock:
            self.announced = time.monotonic()

    def check(self, rec: dict[str, Any]) -> None:
        """Called with each recommendation record the demo reads."""
        if self.seen is not None or self.announced is None:
            return
        ids = [str(i["item_id"]) for i in rec.get("items", [])]
        if self.item.item_id in ids:
            with self._lock:
                self.seen = time.monotonic()
                self.where = f"user {rec.get('user_id')}, rank {ids.index(self.item.item_id) + 1}"

    def report(self) -> str:
        """One line for the demo's output."""
        if self.announced is None:
            return "cold start: the new item was not announced"
        if self.seen is None:
            return f"cold start: {self.item.item_id!r} ({self.item.title}) was in no top-K yet"
        return (
            f"cold start: new item {self.item.item_id!r} ({self.item.title}, no clicks) was in a "
            f"top-K {self.seen - self.announced:.2f} s after it was announced ({self.where})"
        )
