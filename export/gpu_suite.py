"""The GPU suite: the exported ONNX step on CUDA against CPU, same graph, same inputs.

For each catalog a random model with the default dimensions is exported once. The step then runs
on a CUDA session (I/O binding, outputs on device) and on a CPU session, interleaved call by call,
at each batch size. Reported per cell: p50/p99 of one batched call, events/s (batch / p50), and
the CUDA/CPU throughput ratio. Where this onnxruntime build or machine has no usable CUDA the
suite says so and runs the CPU side alone, so the command is the same everywhere. One JSON file
is the result. Sized to finish within 10 minutes on a GPU machine.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from streamrec.export import parity
from streamrec.export.bench import EXCLUDE_WIDTH, MAX_SCORE_ELEMENTS, BenchConfig, time_interleaved
from streamrec.export.onnx_export import export_step
from streamrec.export.spec import STEP_INPUTS, STEP_OUTPUTS
from streamrec.models.inference import CUDA, GraphRunner, SessionError, cpu_threads, create_session
from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender

log = logging.getLogger(__name__)

GPU_CATALOGS = (50_000, 1_000_000)
GPU_BATCHES = (1, 64, 256, 1024)
MAX_GPU_SCORE_ELEMENTS = 2_100_000_000  # batch x catalog on the device (8.4 GB of fp32 scores)


@dataclass(frozen=True)
class SuiteConfig:
    """Catalogs, batches and the time per cell."""

    catalogs: tuple[int, ...] = GPU_CATALOGS
    batches: tuple[int, ...] = GPU_BATCHES
    iters: int = 60
    min_iters: int = 5
    cell_budget_s: float = 6.0
    k: int = 20
    cpu_threads: int | None = None
    seed: int = 0


def _cuda_session(step: bytes) -> tuple[ort.InferenceSession | None, str]:
    """A CUDA session of ``step``, or None with the reason it cannot be had."""
    try:
        return create_session(step, provider="cuda", spin=False), "ok"
    except SessionError as exc:
        return None, str(exc)


def suite_catalog(catalog: int, cfg: SuiteConfig) -> tuple[list[dict[str, Any]], str]:
    """Rows of one catalog (every batch, each provider) and the CUDA status."""
    torch.manual_seed(cfg.seed)
    model = RecurrentRecommender(RecurrentConfig(num_items=catalog)).eval()
    c = model.config
    t0 = time.perf_counter()
    step = export_step(model, catalog, cfg.k)
    log.warning("catalog %d: exported in %.1f s", catalog, time.perf_counter() - t0)
    runners = {
        "cpu": GraphRunner(
            create_session(step, provider="cpu", threads=cfg.cpu_threads, spin=False), STEP_OUTPUTS
        )
    }
    cuda, status = _cuda_session(step)
    if cuda is not None:
        runners["cuda"] = GraphRunner(cuda, STEP_OUTPUTS)
    timing = BenchConfig(iters=cfg.iters, min_iters=cfg.min_iters, cell_budget_s=cfg.cell_budget_s)
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for batch in cfg.batches:
        x = parity.random_inputs(rng, batch, catalog, c.num_actions, c.state_size, EXCLUDE_WIDTH)
        feeds = dict(zip(STEP_INPUTS, (x.items, x.actions, x.states, x.exclude), strict=True))
        engines: dict[str, Callable[[], object]] = {}
        for name, runner in runners.items():
            limit = MAX_GPU_SCORE_ELEMENTS if name == "cuda" else MAX_SCORE_ELEMENTS
            if batch * catalog <= limit:
                engines[name] = partial(runner.run, feeds)
        if not engines:
            continue
        for name, times in time_interleaved(engines, timing).items():
            p50, p99 = (float(v) for v in np.percentile(times, [50, 99]) * 1e3)
            rows.append(
                {
                    "catalog": catalog,
                    "batch": batch,
                    "provider": name,
                    "iters": len(times),
                    "p50_ms": round(p50, 3),
                    "p99_ms": round(p99, 3),
                    "events_per_s": round(batch / (p50 / 1e3), 1),
                }
            )
        log.warning("catalog %d batch %d: %s", catalog, batch, sorted(engines))
    return rows, status


def gpu_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CUDA / CPU events/s per cell where both ran."""
    cells: dict[tuple[int, int], dict[str, float]] = {}
    for r in rows:
        cells.setdefault((r["catalog"], r["batch"]), {})[r["provider"]] = r["events_per_s"]
    return [
        {"catalog": c, "batch": b, "cuda_over_cpu": round(e["cuda"] / e["cpu"], 2)}
        for (c, b), e in sorted(cells.items())
        if "cuda" in e and "cpu" in e
    ]


def run_gpu_suite(cfg: SuiteConfig) -> dict[str, Any]:
    """Every catalog of ``cfg``; the machine, the CUDA status, rows and ratios."""
    rows: list[dict[str, Any]] = []
    status = "not tried"
    started = time.perf_counter()
    for catalog in cfg.catalogs:
        got, status = suite_catalog(catalog, cfg)
        rows.extend(got)
    return {
        "config": asdict(cfg),
        "machine": platform.node(),
        "cpu_threads": cfg.cpu_threads or cpu_threads(),
        "onnxruntime": ort.__version__,
        "providers_available": ort.get_available_providers(),
        "cuda": status if CUDA in ort.get_available_providers() else "no CUDA provider",
        "wall_s": round(time.perf_counter() - started, 1),
        "rows": rows,
        "ratios": gpu_ratios(rows),
    }
