"""``streamrec bench index``: candidate top-K indexes judged against exact scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamrec.export.index_bench import exact_top, recall_at
from streamrec.stream.cli.main import main

pytestmark = pytest.mark.unit


def test_recall_counts_the_exact_top_k_found_among_the_fetched_rows() -> None:
    table = np.eye(4, dtype=np.float32)
    queries = np.array([[4, 3, 2, 1], [1, 2, 3, 4]], dtype=np.float32)
    want = exact_top(table, queries, 2)
    assert {*want[0].tolist()} == {0, 1} and {*want[1].tolist()} == {2, 3}
    assert recall_at(np.array([[1, 0, 3], [0, 1, 3]]), want, k=2) == 0.75


def test_bench_index_rows_for_every_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "index", "--generated", "1500", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    engines = {r["engine"] for r in rows}
    assert engines == {"exact", "faiss HNSW", "faiss IVF", "usearch HNSW"}
    by = {(r["engine"], r["setting"]): r for r in rows}
    assert by[("exact", "matmul + argpartition")]["recall"] == 1.0
    easy = by[("faiss HNSW", "M 32, efC 128, ef 128")]  # a small Gaussian table is easy
    assert easy["recall"] > 0.95
    assert all(r["us_per_event"] > 0 and r["rows"] == 1500 for r in rows)
    assert main(["bench", "index"]) == 2
    assert main(["bench", "index", "--generated", "1e5"]) == 2
    assert "--generated" in capsys.readouterr().err
