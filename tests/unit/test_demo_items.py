"""Unit tier for the demo's cold-start watch (the broker part runs in `make demo`)."""

from __future__ import annotations

import time
from pathlib import Path

from streamrec.models.data.catalog import load_catalog
from streamrec.models.data.synthetic import SyntheticConfig, simulate
from streamrec.models.data.writers import write_events
from streamrec.stream.tools.demo_items import (
    NEW_ITEM_ID,
    NewItemWatch,
    new_item_like,
    write_demo_catalog,
)


def test_new_item_copies_the_top_item_and_the_watch_times_it(tmp_path: Path) -> None:
    synth = SyntheticConfig(n_users=50, n_items=30, n_events=1500, seed=4)
    events = simulate(synth)
    live = tmp_path / "live.csv"
    write_events(events, live)
    catalog = write_demo_catalog(synth, tmp_path / "catalog.csv")
    item = new_item_like(catalog, live)
    counts: dict[str, int] = {}
    for e in events:
        counts[e.item_id] = counts.get(e.item_id, 0) + 1
    top = max(counts, key=lambda i: counts[i])
    assert item.item_id == NEW_ITEM_ID and item.brand == "Brand-new"
    base = next(r for r in load_catalog(catalog) if r.item_id == top)
    assert (item.title, item.category) == (base.title, base.category)
    watch = NewItemWatch(item)
    watch.check({"user_id": "u1", "items": [{"item_id": NEW_ITEM_ID}]})
    assert watch.seen is None  # not announced yet: ignored
    watch.announced = time.monotonic()
    watch.check({"user_id": "u2", "items": [{"item_id": "i1"}]})
    assert watch.seen is None
    watch.check({"user_id": "u3", "items": [{"item_id": "i1"}, {"item_id": NEW_ITEM_ID}]})
    assert watch.seen is not None and watch.where == "user u3, rank 2"
    assert "was in a top-K" in watch.report()
