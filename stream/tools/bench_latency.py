"""Latency at an offered rate, and the latency–throughput curve of one worker.

The load generator (:mod:`streamrec.stream.tools.loadgen`) is kept cheap so it does not compete
with the worker for the CPU. Its own CPU per event is measured and reported beside the
worker's, so a reader can see which side the machine spent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamrec.stream.config.settings import Settings
from streamrec.stream.records.schemas import encode_event
from streamrec.stream.tools.loadgen import offer

Row = tuple[str, str, str, float]  # user, item, action, ts

FIRST_RATE = 250.0
MAX_RATE = 64_000.0
SATURATED_P50_MS = 1000.0  # past this the worker is behind: the curve stops


@dataclass(frozen=True)
class LatencyPoint:
    """Publish -> recommendation received, at one offered rate."""

    offered_eps: float
    achieved_eps: float  # what the publisher really sent per second
    sent: int
    received: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    load_cpu_ms_per_event: float  # this process: publisher + consumer
    worker_cpu_ms_per_event: float
    machine_busy: float  # share of all the machine's cores busy meanwhile (1.0: saturated)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (from /proc/PID/stat)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks (from /proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    total = sum(ticks[:8])  # guest time is already counted in user
    return float(total - idle), float(total)


def busy_share(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Share of the machine's CPU time that was busy between two :func:`machine_cpu` readings."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 3) if total > 0 else float("nan")


def measure_at(
    settings: Settings,
    rows: Sequence[Row],
    rate: float,
    seconds: float,
    prefix: str,
    worker_pid: int,
) -> LatencyPoint:
    """Offer ``rate`` events/s for ``seconds`` (rows reused in turn) and time each answer."""
    m = max(50, int(rate * seconds))
    messages = []
    for k in range(m):
        user, item, action, ts = rows[k % len(rows)]
        messages.append(
            (user.encode(), encode_event(user, item, action, ts, event_id=f"{prefix}{k}"))
        )
    cpu0, wcpu0, machine0 = time.process_time(), process_cpu_s(worker_pid), machine_cpu()
    offered = offer(settings, messages, prefix, rate)
    load_cpu, worker_cpu = time.process_time() - cpu0, process_cpu_s(worker_pid) - wcpu0
    busy = busy_share(machine0, machine_cpu())
    latencies = offered.latencies_s * 1000
    lat = latencies if len(latencies) else np.array([np.nan])
    p50, p95, p99, top = (float(v) for v in np.percentile(lat, [50, 95, 99, 100]))
    return LatencyPoint(
        offered_eps=round(rate, 1),
        achieved_eps=round(m / max(offered.publish_s, 1e-9), 1),
        sent=m,
        received=len(latencies),
        p50_ms=round(p50, 2),
        p95_ms=round(p95, 2),
        p99_ms=round(p99, 2),
        max_ms=round(top, 2),
        load_cpu_ms_per_event=round(1000 * load_cpu / m, 4),
        worker_cpu_ms_per_event=round(1000 * worker_cpu / m, 4),
        machine_busy=busy,
    )


def latency_curve(
    settings: Settings, rows: Sequence[Row], sustained: float, seconds: float, worker_pid: int
) -> list[LatencyPoint]:
    """Offered rates from 250 events/s doubling until the worker saturates (or 64k/s)."""
    points: list[LatencyPoint] = []
    rate = FIRST_RATE
    while rate <= MAX_RATE:
        point = measure_at(settings, rows, rate, seconds, f"c{int(rate)}-", worker_pid)
        points.append(point)
        saturated = point.p50_ms > SATURATED_P50_MS or point.received < 0.99 * point.sent
        if saturated or rate >= sustained:
            break
        rate *= 2
    return points


def plot_curve(points: Sequence[dict[str, Any]], title: str, path: Path) -> Path:
    """p50/p95/p99 against the offered rate, log scales, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rates = [p["offered_eps"] for p in points]
    for key, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^-")):
        ax.plot(rates, [p[key] for p in points], style, label=key.removesuffix("_ms"))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("offered events/s")
    ax.set_ylabel("publish -> recommendation, ms")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
