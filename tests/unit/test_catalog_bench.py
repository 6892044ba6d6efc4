"""Unit tier: `bench catalog` grows a catalog and serves it exactly and through the index."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamrec.export.catalog_bench import format_rows, plot, run_catalog_bench
from tests.support.models import tiny_checkpoint

pytestmark = pytest.mark.unit


def test_each_size_is_timed_both_ways_with_its_recall(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(n_items=60, spread=True)
    path = tmp_path / "model.pt"
    ckpt.save(path)
    ids = ckpt.vocab.ids
    histories = [[ids[(u * 7 + t) % 60] for t in range(5)] for u in range(50)]
    result = run_catalog_bench(path, [300, 600], histories, tmp_path / "work")
    rows = {(r["catalog"], r["engine"]): r for r in result["rows"]}
    assert set(rows) == {(300, "exact"), (300, "index"), (600, "exact"), (600, "index")}
    for size in (300, 600):
        index, exact = rows[(size, "index")], rows[(size, "exact")]
        assert index["recall"] >= 0.95 and exact["recall"] == 1.0
        assert index["events_per_s"] > 0 and exact["memory_mb"] > 0 and index["build_s"] > 0
    assert not any((tmp_path / "work").iterdir())  # each bundle removed after its size
    plot(result, tmp_path / "catalog.png")
    assert (tmp_path / "catalog.png").stat().st_size > 1000
    assert "| 600 | index |" in format_rows(result)
