"""`streamrec bench`: one command, every benchmark under it (stream here, the rest beside)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streamrec.stream.cli.common import Subparsers

# The Taobao slice beside a checkout, as the project's machines keep it (relative to the cwd).
DATASET = Path("../shared/datasets/taobao_user_behavior_110k.csv")


def register(sub: Subparsers[Any]) -> None:
    """The ``bench`` command and every benchmark under it."""
    from streamrec.stream.cli.distribute import add_bench_online
    from streamrec.stream.cli.export import add_bench_step
    from streamrec.stream.cli.items import add_bench_items

    group = sub.add_parser(
        "bench",
        help="benchmarks: stream, step, encode, items, online",
        description="Each benchmark prints its figures (and JSON with --json or --out); "
        "docs/results/ names the command behind every published figure.",
    )
    bench: Subparsers[Any] = group.add_subparsers(dest="bench", metavar="BENCH", required=True)
    add_bench_stream(bench)
    add_bench_step(bench)
    add_bench_items(bench)
    add_bench_online(bench)


def add_bench_stream(bench: Subparsers[Any]) -> None:
    """``bench stream``: one worker through a real broker."""
    b = bench.add_parser(
        "stream",
        help="end-to-end worker throughput and latency through a real broker",
        description="Replay the Taobao slice (or generated events) through the broker and one "
        "worker process: sustained events/s, latency p50/p95/p99/max at half that rate and "
        "along a curve of offered rates, the same model's pure ONNX and batch-step rates, "
        "worker and load-generator CPU per event, RSS, bytes per state. Medians of --repeat.",
    )
    b.add_argument("--bundle", type=Path, help="model bundle (default: train a small one)")
    b.add_argument(
        "--data",
        type=Path,
        default=DATASET,
        help="Taobao CSV to replay (generated events when missing)",
    )
    b.add_argument("--generated", action="store_true", help="use generated events instead")
    b.add_argument("--events", type=int, default=0, help="events to replay (0: all)")
    b.add_argument(
        "--latency-seconds", type=float, default=20.0, help="length of the half-rate phase"
    )
    b.add_argument(
        "--curve-seconds",
        type=float,
        default=8.0,
        help="seconds per point of the latency curve (250 events/s doubling to saturation; "
        "0: no curve)",
    )
    b.add_argument("--repeat", type=int, default=3, help="runs; figures are their medians")
    b.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results/stream"),
        help="report.json (median and every run) and latency.png",
    )
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.add_argument("--profile", type=Path, help="run the worker under cProfile, write here")
    b.set_defaults(handler=_bench_stream)


def _bench_stream(args: argparse.Namespace) -> int:
    from streamrec.stream.tools.bench import run_bench_cli

    return int(run_bench_cli(args))
