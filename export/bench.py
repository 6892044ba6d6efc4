"""Step benchmark: ONNX Runtime session vs the same step in torch eager, in one run.

For each catalog size a random model with the default dimensions is exported (the shipped
exporter and graph), then every batch size is timed with the two engines *interleaved* call by
call, so load from other processes hits both alike. Reported per cell: latency p50/p99 of one
batched call and per-event throughput (batch / p50); the ratio is ONNX over torch throughput.
With ``blend`` the same model is also exported with a random item-to-item transition table (64
followers per item, the default) and timed in the same interleaving, so the cost of serving
transitions is a ratio of one run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from streamrec.export import parity
from streamrec.export.onnx_export import export_step
from streamrec.export.spec import BLEND_STEP_INPUTS, STEP_INPUTS, STEP_OUTPUTS
from streamrec.export.step_graph import reference_step
from streamrec.models.inference import GraphRunner, Provider, cpu_threads, create_session
from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender, score_mask
from streamrec.models.nets.neighbours import Blend, NeighbourTable

log = logging.getLogger(__name__)

CATALOGS = (10_000, 100_000, 1_000_000)
BATCHES = (1, 4, 16, 64, 256, 1024)
QUICK_CATALOGS = (10_000, 100_000)
QUICK_BATCHES = (1, 64, 256)
MAX_SCORE_ELEMENTS = 110_000_000  # batch x catalog; 1M items stop at batch 64 (GBs per copy)
EXCLUDE_WIDTH = 8


@dataclass(frozen=True)
class BenchConfig:
    """What to time and for how long."""

    catalogs: tuple[int, ...] = CATALOGS
    batches: tuple[int, ...] = BATCHES
    iters: int = 50  # timed calls per engine and cell, at most
    min_iters: int = 5  # ... and at least, even past the budget
    cell_budget_s: float = 3.0  # per cell, both engines together
    k: int = 20
    threads: int | None = None
    provider: Provider = "auto"
    seed: int = 0
    blend: bool = False  # also time the step with a transition table
    int8: bool = False  # also time the int8-quantised step graph (its speed, not its gate)

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        """A run of well under a minute: two catalogs, three batch sizes, short cells."""
        base: dict[str, Any] = {
            "catalogs": QUICK_CATALOGS,
            "batches": QUICK_BATCHES,
            "iters": 30,
            "cell_budget_s": 1.5,
        }
        return cls(**{**base, **overrides})


@dataclass(frozen=True)
class BenchRow:
    """One engine at one (catalog, batch) cell."""

    catalog: int
    batch: int
    engine: str
    iters: int
    p50_ms: float
    p99_ms: float
    events_per_s: float


def _percentiles(samples: list[float], batch: int) -> tuple[float, float, float]:
    p50, p99 = np.percentile(samples, [50, 99]) * 1e3
    return float(p50), float(p99), batch / (float(p50) / 1e3)


def time_interleaved(
    engines: dict[str, Callable[[], object]], cfg: BenchConfig
) -> dict[str, list[float]]:
    """Call each engine in turn until ``iters`` each or the budget (``min_iters`` at least)."""
    for fn in engines.values():  # warm-up: allocator, thread pools, caches
        fn()
        fn()
    samples: dict[str, list[float]] = {name: [] for name in engines}
    start = time.perf_counter()
    for i in range(cfg.iters):
        if i >= cfg.min_iters and time.perf_counter() - start > cfg.cell_budget_s:
            break
        for name, fn in engines.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return samples


def bench_catalog(catalog: int, cfg: BenchConfig) -> list[BenchRow]:
    """Export one random model of ``catalog`` items and time every batch size."""
    torch.manual_seed(cfg.seed)
    model = RecurrentRecommender(RecurrentConfig(num_items=catalog)).eval()
    c = model.config
    t0 = time.perf_counter()
    step = export_step(model, catalog, cfg.k)
    log.info(
        "catalog %d: exported %.0f MB in %.1fs", catalog, len(step) / 1e6, time.perf_counter() - t0
    )
    session = create_session(step, provider=cfg.provider, threads=cfg.threads, spin=False)
    runner = GraphRunner(session, STEP_OUTPUTS)
    onnx_name = f"onnx-{session.get_providers()[0].removesuffix('ExecutionProvider').lower()}"
    blended = None
    if cfg.blend:
        graph = export_step(model, catalog, cfg.k, blend=random_blend(catalog, cfg.seed))
        s = create_session(graph, provider=cfg.provider, threads=cfg.threads, spin=False)
        blended = GraphRunner(s, STEP_OUTPUTS)
    quantised = None
    if cfg.int8:
        from streamrec.export.variants import quantize_int8

        s = create_session(quantize_int8(step), provider="cpu", threads=cfg.threads, spin=False)
        quantised = GraphRunner(s, STEP_OUTPUTS)
    mask = score_mask(catalog, catalog)
    rng = np.random.default_rng(cfg.seed)
    rows: list[BenchRow] = []
    for batch in cfg.batches:
        if batch * catalog > MAX_SCORE_ELEMENTS:
            log.info("catalog %d batch %d skipped (score matrix too large)", catalog, batch)
            continue
        x = parity.random_inputs(
            rng, batch, catalog, c.num_actions, c.state_size, EXCLUDE_WIDTH, previous=2
        )
        it, ac, st, ex = (torch.from_numpy(a) for a in (x.items, x.actions, x.states, x.exclude))
        engines: dict[str, Callable[[], object]] = {
            onnx_name: partial(runner.run, x.feeds(STEP_INPUTS)),
            "torch-eager": partial(reference_step, model, mask, it, ac, st, ex, cfg.k),
        }
        if blended is not None:
            engines[f"{onnx_name}+transitions"] = partial(blended.run, x.feeds(BLEND_STEP_INPUTS))
        if quantised is not None:
            engines["onnx-cpu-int8"] = partial(quantised.run, x.feeds(STEP_INPUTS))
        samples = time_interleaved(engines, cfg)
        for name, times in samples.items():
            p50, p99, eps = _percentiles(times, batch)
            rows.append(BenchRow(catalog, batch, name, len(times), p50, p99, eps))
    return rows


def random_blend(catalog: int, seed: int, width: int = 64) -> Blend:
    """A transition table of ``width`` random followers per item (the cost, not the quality)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, catalog, (catalog, width))
    weights = rng.uniform(0, 3, (catalog, width)).astype(np.float32)
    return Blend(NeighbourTable(ids, weights), 16.0)


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Every cell of ``cfg``; returns rows, ratios and the machine description."""
    threads = cfg.threads or cpu_threads()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # same cores for both engines
    try:
        rows = [row for catalog in cfg.catalogs for row in bench_catalog(catalog, cfg)]
    finally:
        torch.set_num_threads(previous)
    return {
        "config": asdict(cfg),
        "threads": threads,
        "torch": torch.__version__,
        "rows": [asdict(r) for r in rows],
        "ratios": ratios(rows),
    }


def ratios(rows: list[BenchRow]) -> list[dict[str, Any]]:
    """ONNX / torch per-event throughput for each cell."""
    cells: dict[tuple[int, int], dict[str, BenchRow]] = {}
    for row in rows:
        cells.setdefault((row.catalog, row.batch), {})[row.engine] = row
    out = []
    for (catalog, batch), engines in sorted(cells.items()):
        torch_row = engines.get("torch-eager")
        onnx_rows = [r for name, r in engines.items() if name.startswith("onnx")]
        if torch_row and onnx_rows:
            ratio = onnx_rows[0].events_per_s / torch_row.events_per_s
            cell: dict[str, Any] = {"catalog": catalog, "batch": batch, "ratio": round(ratio, 2)}
            plain = onnx_rows[0].events_per_s
            for row in onnx_rows[1:]:  # variants: their throughput over the plain step's
                key = "int8" if row.engine.endswith("int8") else "transitions"
                cell[key] = round(row.events_per_s / plain, 3)
            out.append(cell)
    return out


def format_table(result: dict[str, Any]) -> str:
    """Markdown table: one line per cell, both engines and the ratio."""
    by_cell: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for row in result["rows"]:
        by_cell.setdefault((row["catalog"], row["batch"]), {})[row["engine"]] = row
    lines = [
        "| catalog | batch | engine | p50 ms | p99 ms | events/s | torch p50 ms | torch p99 ms "
        "| torch events/s | vs torch |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (catalog, batch), engines in sorted(by_cell.items()):
        t = engines.get("torch-eager")
        for name, row in engines.items():
            if name == "torch-eager" or t is None:
                continue
            own = row["events_per_s"] / t["events_per_s"] if t["events_per_s"] else float("nan")
            lines.append(
                f"| {catalog:,} | {batch} | {name} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
                f"| {row['events_per_s']:,.0f} | {t['p50_ms']:.2f} | {t['p99_ms']:.2f} "
                f"| {t['events_per_s']:,.0f} | {own:.2f}x |"
            )
    return "\n".join(lines)


def bench_encode(catalog: int, batch: int, length: int, cfg: BenchConfig) -> dict[str, Any]:
    """Re-encoding ``batch`` histories of ``length`` events: encode graph vs looping the step."""
    from streamrec.export.encode_graph import build_encode, random_histories

    torch.manual_seed(cfg.seed)
    model = RecurrentRecommender(RecurrentConfig(num_items=catalog)).eval()
    c = model.config
    step = GraphRunner(create_session(export_step(model, catalog, cfg.k), spin=False), STEP_OUTPUTS)
    encode = GraphRunner(create_session(build_encode(model), spin=False), ("state_out",))
    rng = np.random.default_rng(cfg.seed)
    items, actions = random_histories(rng, batch, length, catalog, c.num_actions)
    zero = np.zeros((batch, c.state_size), np.float32)
    no_exclude = np.zeros((batch, 1), np.int64)

    def loop() -> np.ndarray:
        state = zero
        for t in range(length):  # every user steps; PAD rows are undone below
            out = step.run(
                {
                    "items": items[:, t],
                    "actions": actions[:, t],
                    "state": state,
                    "exclude": no_exclude,
                }
            )
            state = np.where((items[:, t] != 0)[:, None], out[0], state)
        return state

    engines: dict[str, Callable[[], object]] = {
        "encode-graph": partial(encode.run, {"items": items, "actions": actions, "state": zero}),
        "step-loop": loop,
    }
    samples = time_interleaved(engines, cfg)
    p50 = {name: float(np.median(t)) * 1e3 for name, t in samples.items()}
    return {
        "catalog": catalog,
        "batch": batch,
        "length": length,
        "encode_graph_ms": p50["encode-graph"],
        "step_loop_ms": p50["step-loop"],
        "speedup": p50["step-loop"] / p50["encode-graph"],
    }
