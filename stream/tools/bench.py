"""`streamrec bench stream`: one worker process, the real broker, real (or generated) events.

Phases, all in one run so the figures are comparable:

1. **Pure step**: the bundle's ONNX step and the pure batch step on real events in this
   process, one thread, at the worker's batch size (events/s).
2. **Sustained**: the whole replay is published first, then a worker drains the backlog;
   events/s is read from the worker's own counters (no consumer competes for the CPU).
3. **Latency**: a fresh stream at half the sustained rate; a consumer measures publish ->
   recommendation received, per event (p50/p99).

Also reported: the worker's RSS, bytes per user state, and where the worker's time goes
(its step / batch histograms against wall time).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from streamrec.stream.config.settings import Settings, load_settings
from streamrec.stream.records.schemas import encode_event
from streamrec.stream.tools.bench_latency import latency_curve, measure_at, process_cpu_s
from streamrec.stream.tools.bench_model import build_bundle, pure_step_rate
from streamrec.stream.tools.clients import worker_metric

log = logging.getLogger(__name__)

MODEL_FIELDS = (
    "catalog_rows",
    "scored_rows",
    "catalog_items",
    "state_size",
    "k",
    "graph",
    "transitions",
    "index",
)


def taobao_payloads(path: Path, limit: int = 0) -> list[tuple[str, str, str, float]]:
    """(user, item, action, ts) rows of the Taobao UserBehavior CSV (no header)."""
    rows = []
    with path.open() as fh:
        for line in fh:
            parts = line.rstrip("\n").split(",")
            if len(parts) != 5:
                continue
            rows.append((parts[0], parts[1], parts[3], float(parts[4])))
            if limit and len(rows) >= limit:
                break
    return rows


def generated_payloads(n: int) -> list[tuple[str, str, str, float]]:
    """(user, item, action, ts) rows from streamrec.models.data.synthetic.

    Items are drawn from 50,000 ids, but the catalog scored is the items the rows name (the
    bundle's vocabulary is built from them): the report's ``source`` and ``catalog_rows`` say
    what it really was.
    """
    from streamrec.models.data.synthetic import generate_events

    events = generate_events(n_users=20_000, n_items=50_000, n_events=n, seed=1)
    return [(e.user_id, e.item_id, e.action.name.lower(), e.ts) for e in events]


def _payload(row: tuple[str, str, str, float], event_id: str) -> tuple[bytes, bytes]:
    u, i, a, ts = row
    return u.encode(), encode_event(u, i, a, ts, event_id=event_id)


def _ready(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _e2e_buckets(port: int) -> dict[float, float]:
    """The worker's end-to-end histogram, cumulative count per upper bound (seconds)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    out = {}
    for line in body.splitlines():
        if line.startswith("streamrec_end_to_end_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def _bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Upper bound (ms) of the bucket holding quantile ``q`` of the observations in between."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if total and count >= q * total:
            return bound * 1000
    return float("nan")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for_count(
    read: Callable[[], float],
    target: float,
    timeout: float,
    poll_s: float = 0.5,
    floor_s: float = 0.02,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[float, float]:
    """Poll ``read`` (a rising count) until ``target``: (when, the count read then).

    The count is the one read at that moment (it may be past ``target``), so a window between
    two such readings holds exactly the events counted in it. Each poll of a worker renders its
    whole exposition (~3 ms of its CPU), so polls are ``poll_s`` apart while the target is far;
    near it they come at half the time the rate seen so far needs to reach it (``floor_s`` at
    least), so the reading that reaches the target is at most ``floor_s`` late, not ``poll_s``:
    a worker that finishes a short replay between two coarse polls would be counted idle.
    """
    deadline = clock() + timeout
    seen: tuple[float, float] | None = None
    while clock() < deadline:
        count = read()
        now = clock()
        if count >= target:
            return now, count
        pause = poll_s
        if seen is not None and count > seen[1]:
            rate = (count - seen[1]) / max(now - seen[0], 1e-9)
            pause = min(poll_s, max(floor_s, (target - count) / rate / 2))
        seen = (now, count)
        sleep(pause)
    raise TimeoutError(f"worker did not reach {target} recommendations in {timeout}s")


def _wait_count(port: int, target: float, timeout: float) -> tuple[float, float]:
    """:func:`wait_for_count` on the worker's recommendation counter."""
    return wait_for_count(
        lambda: worker_metric(port, "streamrec_recommendations_total"), target, timeout
    )


def run_bench(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """All phases; returns the figures (see the module docstring)."""
    from streamrec.stream.tools.clients import publish

    work = Path(tempfile.mkdtemp(prefix="streamrec-bench-"))
    if args.generated or not args.data.exists():
        rows = generated_payloads(args.events or 100_000)
        items = len({r[1] for r in rows})
        source = f"generated (streamrec.models.data.synthetic, {len(rows)} events, {items} items)"
    else:
        rows = taobao_payloads(args.data, args.events)
        source = f"{args.data.name} ({len(rows)} events)"
    int8 = settings.scoring != "exact"  # STREAMREC_SCORING=int8/auto: serve the int8 graph
    bundle = args.bundle or build_bundle(
        rows, work / "bundle", not args.no_transitions, int8, args.catalog, args.checkpoint
    )
    pure = pure_step_rate(bundle, rows, settings)

    app = f"bench-{uuid.uuid4().hex[:8]}"
    bench = settings.model_copy(
        update={
            "app_id": app,
            "events_topic": f"{app}-events",
            "recommendations_topic": f"{app}-recs",
            "dead_letter_topic": f"{app}-dead",
            "data_dir": work / "state",
            "bundle": bundle,
        }
    )
    env = dict(os.environ)
    for field in ("app_id", "events_topic", "recommendations_topic", "dead_letter_topic"):
        env[f"STREAMREC_{field.upper()}"] = str(getattr(bench, field))
    env.update(
        STREAMREC_DATA_DIR=str(bench.data_dir),
        STREAMREC_BUNDLE=str(bundle),
        STREAMREC_BOOTSTRAP=bench.bootstrap,
        STREAMREC_WEB_PORT=str(bench.web_port),
    )
    from streamrec.stream.config.topics import ensure_topics

    ensure_topics(bench)
    # Phase 2 input first: the whole replay waits in the topic before the worker starts.
    n = len(rows)
    publish(bench, (_payload(r, f"s{k}") for k, r in enumerate(rows)), total=n, progress=False)
    cmd = [sys.executable, "-m", "streamrec.stream.cli", "worker"]
    if args.profile:
        cmd = [sys.executable, "-m", "streamrec.stream.cli.profile", str(args.profile)]
    worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _ready(bench.web_port):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bench worker did not start")
            time.sleep(0.3)
        # Sustained rate: from 10% to 100% of the backlog (start-up excluded), counting the
        # events the worker's counter says it answered in between; polled finely at the end.
        t_first, first = _wait_count(bench.web_port, 0.1 * n, 600)
        cpu0 = process_cpu_s(worker.pid)
        step0 = worker_metric(bench.web_port, "streamrec_step_seconds_sum")
        batch0 = worker_metric(bench.web_port, "streamrec_batch_seconds_sum")
        t_last, last = _wait_count(bench.web_port, n, 1200)
        cpu = process_cpu_s(worker.pid) - cpu0
        wall = t_last - t_first
        drained = max(last - first, 1.0)
        sustained = drained / wall
        step_s = worker_metric(bench.web_port, "streamrec_step_seconds_sum") - step0
        batch_s = worker_metric(bench.web_port, "streamrec_batch_seconds_sum") - batch0
        batches = worker_metric(bench.web_port, "streamrec_batch_size_count")
        rss_drain = _rss_mb(worker.pid)

        # Latency at half the sustained rate, then the curve, measured from this process.
        e2e0 = _e2e_buckets(bench.web_port)
        half = measure_at(bench, rows, sustained / 2, args.latency_seconds, "l", worker.pid)
        e2e1 = _e2e_buckets(bench.web_port)
        curve = []
        if args.curve_seconds > 0:
            curve = latency_curve(bench, rows, sustained, args.curve_seconds, worker.pid)
        state_bytes = _state_bytes(bench.web_port, rows[:200])
        rss = _rss_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(60)
    return {
        "source": source,
        "events": n,
        "bundle": str(bundle),
        "batch_max": bench.batch_max,
        "sustained_eps": round(sustained, 1),
        "onnx_step_eps": round(pure["onnx_step_eps"], 1),
        "pure_step_eps": round(pure["pure_step_eps"], 1),
        "ratio_e2e_to_onnx_step": round(sustained / pure["onnx_step_eps"], 3),
        "ratio_e2e_to_pure_step": round(sustained / pure["pure_step_eps"], 3),
        "latency_rate_eps": half.offered_eps,
        "latency_samples": half.received,
        "latency_p50_ms": half.p50_ms,
        "latency_p95_ms": half.p95_ms,
        "latency_p99_ms": half.p99_ms,
        "latency_max_ms": half.max_ms,
        "load_cpu_ms_per_event": half.load_cpu_ms_per_event,
        "latency_worker_cpu_ms_per_event": half.worker_cpu_ms_per_event,
        "latency_machine_busy": half.machine_busy,
        # The worker's own view (input message timestamp -> recommendation handed to the
        # producer), as histogram bucket bounds: tells worker delay from the bench's own.
        "worker_e2e_p50_ms_bucket": _bucket_quantile(e2e0, e2e1, 0.5),
        "worker_e2e_p99_ms_bucket": _bucket_quantile(e2e0, e2e1, 0.99),
        "worker_rss_mb": round(max(rss, rss_drain), 1),
        "state_bytes_per_user": state_bytes,
        "model": {k: pure[k] for k in MODEL_FIELDS},
        "curve": [asdict(point) for point in curve],
        "time_split": {
            "wall_s": round(wall, 2),
            "step_s": round(step_s, 2),
            "batch_handling_s": round(batch_s, 2),
            "step_share": round(step_s / wall, 3),
            "batch_other_share": round((batch_s - step_s) / wall, 3),
            "outside_batches_share": round(1 - batch_s / wall, 3),
            "mean_batch": round(n / max(batches, 1), 1),
            # On a shared machine the CPU the worker got is the figure to compare runs by.
            "worker_cpu_s": round(cpu, 2),
            "worker_cpu_share": round(cpu / wall, 3),
            "drained_events": int(drained),
            "worker_cpu_ms_per_event": round(1000 * cpu / drained, 3),
            "load_avg_1m": os.getloadavg()[0],
        },
    }


def _state_bytes(port: int, rows: list[tuple[str, str, str, float]]) -> float:
    import urllib.request

    sizes = []
    for u in {r[0] for r in rows}:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/users/{u}/recommendations", timeout=5
            ) as resp:
                sizes.append(orjson.loads(resp.read())["state_bytes"])
        except OSError:
            continue
    return round(float(np.mean(sizes)), 1) if sizes else float("nan")


def run_bench_cli(args: argparse.Namespace) -> int:
    """Entry point of `streamrec bench stream`: ``--repeat`` runs, medians, report files."""
    from streamrec.stream.tools.bench_report import write_report

    settings = load_settings()
    runs = []
    for n in range(args.repeat):
        log.warning("bench stream: run %d of %d", n + 1, args.repeat)
        runs.append(run_bench(settings, args))
    report = write_report(runs, args.out)
    if args.json:
        print(orjson.dumps(report["median"], option=orjson.OPT_INDENT_2).decode())
    else:
        for key, value in report["median"].items():
            if key != "curve":
                print(f"{key:28s} {value}")
        print(
            "offered/s  achieved/s      p50      p95      p99      max  (ms)  "
            "load/worker CPU ms  machine busy"
        )
        for p in report["median"]["curve"]:
            print(
                f"{p['offered_eps']:>9,.0f} {p['achieved_eps']:>11,.0f} {p['p50_ms']:>8.1f} "
                f"{p['p95_ms']:>8.1f} {p['p99_ms']:>8.1f} {p['max_ms']:>8.1f}  "
                f"{p['load_cpu_ms_per_event']:.3f} / {p['worker_cpu_ms_per_event']:.3f}"
                f"       {p.get('machine_busy', float('nan')):.0%}"
            )
    print(f"median of {args.repeat}; every run in {args.out / 'report.json'}", file=sys.stderr)
    return 0
