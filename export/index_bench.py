"""Top-K without touching every row: candidate maximum-inner-product indexes against exact scoring.

The step's score of an item is ``query . embedding + bias``; appending the bias to each
embedding and a 1 to the query makes it one inner product, which is what the indexes search.
For one item table and one set of queries, every engine returns its top ``k + overfetch`` rows
(over-fetching leaves room to drop excluded rows) and is judged on recall@k against the exact
top-k, time per event at a batch of queries (one thread), build time and memory.

Tables: a checkpoint's (its learned embeddings and bias, queries from the model's own step on
random items) or a generated one (Gaussian vectors: no structure, the hard case for a graph
index). faiss-cpu and usearch come with the ``dev`` extra.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

K = 10
OVERFETCH = 10
BATCH = 256
QUERIES = 2048


@dataclass(frozen=True)
class IndexRow:
    """One engine at one setting."""

    table: str
    rows: int
    engine: str
    setting: str
    us_per_event: float
    recall: float
    build_s: float
    memory_mb: float


def checkpoint_table(path: str | Path, n_queries: int = QUERIES) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, D + 1)`` embeddings with their bias, ``(n, D + 1)`` queries from the model."""
    import torch

    from streamrec.models.nets.checkpoint import Checkpoint

    ckpt = Checkpoint.load(path)
    model, used = ckpt.build_model(), ckpt.vocab.size
    rng = np.random.default_rng(0)
    items = torch.from_numpy(rng.integers(2, used, n_queries))
    with torch.no_grad():
        state = model.initial_state(n_queries)
        features, _ = model.step_features(items, torch.ones_like(items), state)
        queries = model.query(features).numpy()
        table = model.output_weights().detach().numpy()[:used]
        bias = model.item_bias.detach().numpy()[:used]
    return _augmented(table, bias, queries)


def generated_table(rows: int, dim: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian embeddings with varied norms and a bias, Gaussian queries."""
    rng = np.random.default_rng(0)
    table = rng.normal(0, 1, (rows, dim)) * rng.uniform(0.5, 1.5, (rows, 1))
    return _augmented(table, rng.normal(0, 0.5, rows), rng.normal(0, 1, (QUERIES, dim)))


def _augmented(
    table: np.ndarray, bias: np.ndarray, queries: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    items = np.hstack([table, bias[:, None]]).astype(np.float32)
    asked = np.hstack([queries, np.ones((len(queries), 1))]).astype(np.float32)
    return np.ascontiguousarray(items), np.ascontiguousarray(asked)


def exact_top(table: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The exact top ``k`` rows of each query (unordered)."""
    scores = queries @ table.T
    return np.argpartition(-scores, k, axis=1)[:, :k]


def recall_at(got: np.ndarray, want: np.ndarray, k: int = K) -> float:
    """Share of the exact top-k found among each row of ``got``."""
    hits = (want[:, :, None] == got[:, None, :]).any(axis=2)
    return float(hits.sum()) / (len(want) * k)


def per_event_us(search: Callable[[np.ndarray], object], queries: np.ndarray) -> float:
    """Median time of one call on a batch of ``BATCH`` queries, per query, in microseconds."""
    times = []
    for start in range(0, len(queries), BATCH):
        chunk = queries[start : start + BATCH]
        t0 = time.perf_counter()
        search(chunk)
        times.append((time.perf_counter() - t0) / len(chunk))
    return statistics.median(times) * 1e6


def bench_table(name: str, table: np.ndarray, queries: np.ndarray) -> list[IndexRow]:
    """Every engine and setting on one table (one thread each)."""
    import faiss
    import usearch.index

    faiss.omp_set_num_threads(1)
    n, dim = table.shape
    want = exact_top(table, queries, K)
    fetch = K + OVERFETCH
    rows = [
        IndexRow(
            name, n, "exact", "matmul + argpartition",
            per_event_us(lambda q: exact_top(table, q, fetch), queries), 1.0, 0.0,
            table.nbytes / 1e6,
        )
    ]  # fmt: skip

    def add(engine: str, setting: str, search: Callable[[np.ndarray], np.ndarray], build: float,
            memory: float) -> None:  # fmt: skip
        got = search(queries)
        us = per_event_us(search, queries)
        rows.append(IndexRow(name, n, engine, setting, us, recall_at(got, want), build, memory))

    for degree, construction, breadths in ((32, 128, (64, 128)), (16, 64, (16, 32))):
        t0 = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(dim, degree, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = construction
        hnsw.add(table)
        built = time.perf_counter() - t0
        graph_mb = (table.nbytes + n * degree * 2 * 4) / 1e6  # vectors + ~2M neighbour ids a row
        for ef in breadths:
            hnsw.hnsw.efSearch = ef
            setting = f"M {degree}, efC {construction}, ef {ef}"
            add("faiss HNSW", setting, partial(_top_rows, hnsw, fetch), built, graph_mb)
    t0 = time.perf_counter()
    lists = int(4 * np.sqrt(n))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    ivf.train(table)
    ivf.add(table)
    built = time.perf_counter() - t0
    for probes in (8, 32):
        ivf.nprobe = probes
        setting = f"{lists} lists, nprobe {probes}"
        add("faiss IVF", setting, lambda q: ivf.search(q, fetch)[1], built, table.nbytes / 1e6)
    t0 = time.perf_counter()
    graph = usearch.index.Index(ndim=dim, metric="ip", dtype="f32", connectivity=16)
    graph.add(np.arange(n), table, threads=1)
    built = time.perf_counter() - t0
    for ef in (64, 128):
        graph.expansion_search = ef  # type: ignore[misc]  # (it has a setter)

        def search(q: np.ndarray) -> np.ndarray:
            return np.asarray(graph.search(q, fetch, threads=1).keys)

        add("usearch HNSW", f"M 16, ef {ef}", search, built, graph.memory_usage / 1e6)
    return rows


def _top_rows(index: Any, fetch: int, queries: np.ndarray) -> np.ndarray:
    rows: np.ndarray = index.search(queries, fetch)[1]
    return rows


def run_index_bench(checkpoints: list[str], generated: list[int]) -> dict[str, Any]:
    """The rows of every table asked for, as plain data."""
    rows: list[IndexRow] = []
    for path in checkpoints:
        rows += bench_table(Path(path).name, *checkpoint_table(path))
    for n in generated:
        rows += bench_table(f"generated {n:,}", *generated_table(n))
    return {"k": K, "overfetch": OVERFETCH, "batch": BATCH, "rows": [asdict(r) for r in rows]}


def format_rows(result: dict[str, Any]) -> str:
    """Markdown table of :func:`run_index_bench`'s rows."""
    lines = [
        "| table | rows | engine | setting | µs/event | recall@10 | build s | MB |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['table']} | {r['rows']:,} | {r['engine']} | {r['setting']} "
            f"| {r['us_per_event']:.1f} | {r['recall']:.4f} | {r['build_s']:.1f} "
            f"| {r['memory_mb']:.0f} |"
        )
    return "\n".join(lines)
