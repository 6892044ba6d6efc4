"""`streamrec bench catalog`: exact scoring against the item index as the catalog grows.

For each size a trained checkpoint's catalog is grown to that many items
(streamrec.models.nets.catalog_growth), exported as ``streamrec export --index`` does (its
recall gate on the data's real next events) and served both ways from the bundle, one thread:
the exact step graph (every row scored) and the index-served step, interleaved call by call on
the same batches of real inputs. Reported per size and engine: p50/p99 of one batch, events/s
(batch / p50), recall@10 against exact (the export gate's figure), build time and the bytes
each way needs in memory; as JSON and one plot of events/s against catalog size.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamrec.export.bench import BenchConfig, time_interleaved
from streamrec.export.onnx_export import export_checkpoint
from streamrec.export.parity import StepInputs
from streamrec.export.realdata import real_step_inputs
from streamrec.export.runtime import StepSession
from streamrec.export.spec import INDEX_FILE, INDEX_ROLE, ITEMS_FILE, QUERY_FILE, STEP_FILE
from streamrec.models.nets.catalog_growth import grow_catalog
from streamrec.models.nets.checkpoint import Checkpoint

log = logging.getLogger(__name__)

BATCH = 256
INPUTS = 2048  # real inputs per size: the gate's 2000 and the timed batches


@dataclass(frozen=True)
class CatalogRow:
    """One engine at one catalog size."""

    catalog: int
    engine: str  # "exact" (step graph) or "index"
    p50_ms: float
    p99_ms: float
    events_per_s: float
    recall: float  # at 10 against exact (1.0 for exact itself)
    build_s: float
    memory_mb: float  # the scoring side: step graph, or query graph + item table + index


def bench_size(
    base: Checkpoint, size: int, sequences: Sequence[np.ndarray], work: Path, cfg: BenchConfig
) -> list[CatalogRow]:
    """Grow, export with an index, time both engines; the bundle is removed afterwards."""
    log.warning("catalog %d: growing the model, exporting it with an index, timing", size)
    ckpt = grow_catalog(base, size)
    previous = 0 if ckpt.blend is None else ckpt.blend.previous
    real = real_step_inputs(ckpt.build_model(), list(sequences), INPUTS, previous=previous)
    out = work / f"catalog-{size}"
    try:
        bundle = export_checkpoint(ckpt, out, k=10, real=real, encode=False, index=True)
        report = bundle.manifest.verification["index"]
        engines = {"exact": StepSession(bundle, threads=1, spin=False)}
        if bundle.manifest.index is not None:
            engines["index"] = StepSession(bundle, graph=INDEX_ROLE, threads=1, spin=False)
        samples = time_interleaved({n: _caller(s, real) for n, s in engines.items()}, cfg)
        sizes = {name: (out / name).stat().st_size / 1e6 for name in bundle.manifest.files}
    finally:
        shutil.rmtree(out, ignore_errors=True)
    rows = []
    for name, times in samples.items():
        p50, p99 = (float(v) for v in np.percentile(times, [50, 99]) * 1e3)
        exact = name == "exact"
        memory = (
            sizes[STEP_FILE]
            if exact
            else sum(sizes[f] for f in (QUERY_FILE, ITEMS_FILE, INDEX_FILE))
        )
        rows.append(
            CatalogRow(
                catalog=size,
                engine=name,
                p50_ms=round(p50, 3),
                p99_ms=round(p99, 3),
                events_per_s=round(BATCH / (p50 / 1e3), 1),
                recall=1.0 if exact else float(report["recall"]),
                build_s=0.0 if exact else float(report["build_s"]),
                memory_mb=round(memory, 1),
            )
        )
        log.info("catalog %d %s: %s", size, name, rows[-1])
    if "index" not in samples:
        log.warning("catalog %d: the index was refused (%s)", size, report["reason"])
    return rows


def _caller(session: StepSession, inputs: StepInputs) -> Callable[[], object]:
    """A no-argument call that steps the next batch of ``inputs`` each time."""
    batches = [inputs.slice(lo, lo + BATCH) for lo in range(0, len(inputs) - BATCH + 1, BATCH)]
    turn = iter(range(1 << 62))

    def call() -> object:
        x = batches[next(turn) % len(batches)]
        return session.run(x.items, x.actions, x.states, x.exclude, x.previous)

    return call


def run_catalog_bench(
    checkpoint: Path, sizes: Sequence[int], histories: Sequence[Sequence[str]], work: Path
) -> dict[str, Any]:
    """Every size; ``histories`` are users' item ids in time order. Rows as plain data."""
    base = Checkpoint.load(checkpoint)
    row = base.vocab.index
    sequences = [np.array([row(i) for i in h], np.int64) for h in histories if len(h) >= 2]
    if not sequences:
        raise ValueError("no user in the data has two events to replay")
    cfg = BenchConfig(iters=40, min_iters=8, cell_budget_s=20.0)
    rows = [row for size in sizes for row in bench_size(base, size, sequences, work, cfg)]
    return {"checkpoint": str(checkpoint), "batch": BATCH, "rows": [asdict(r) for r in rows]}


def format_rows(result: dict[str, Any]) -> str:
    """Markdown table of :func:`run_catalog_bench`'s rows."""
    lines = [
        "| catalog | engine | p50 ms (batch 256) | p99 ms | events/s | recall@10 | build s | MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['catalog']:,} | {r['engine']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['events_per_s']:,.0f} | {r['recall']:.4f} | {r['build_s']:.0f} "
            f"| {r['memory_mb']:.0f} |"
        )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Events/s against catalog size, one line per engine (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for engine in ("exact", "index"):
        rows = [r for r in result["rows"] if r["engine"] == engine]
        if rows:
            xs = [r["catalog"] for r in rows]
            ax.plot(xs, [r["events_per_s"] for r in rows], marker="o", label=engine)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalog (items)")
    ax.set_ylabel("events/s, one thread, batch 256")
    ax.set_title("top-K: every row scored vs the item index")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
