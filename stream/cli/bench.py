"""`streamrec bench stream`: registered under a shared ``bench`` command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DATASET = (
    Path(__file__).resolve().parents[3] / "shared" / "datasets" / "taobao_user_behavior_110k.csv"
)


def _bench_subparsers(sub: argparse._SubParsersAction[Any]) -> argparse._SubParsersAction[Any]:
    """The ``bench`` command's subcommands, creating ``bench`` unless another package did."""
    existing = sub.choices.get("bench")
    if existing is None:
        bench = sub.add_parser("bench", help="benchmarks (see `streamrec bench --help`)")
        created: argparse._SubParsersAction[Any] = bench.add_subparsers(
            dest="bench", metavar="BENCH"
        )
        return created
    for action in existing._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    added: argparse._SubParsersAction[Any] = existing.add_subparsers(dest="bench", metavar="BENCH")
    return added


def register_bench(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``bench stream``."""
    b = _bench_subparsers(sub).add_parser(
        "stream",
        help="end-to-end worker throughput and latency through a real broker",
        description="Replay the Taobao slice (or generated events) through the broker and one "
        "worker process: sustained events/s, end-to-end latency p50/p99 at half that rate, "
        "ratio to the pure ONNX step throughput, worker RSS, bytes per user state.",
    )
    b.add_argument("--bundle", type=Path, help="model bundle (default: train a small one)")
    b.add_argument("--data", type=Path, default=DATASET, help="Taobao CSV to replay")
    b.add_argument("--generated", action="store_true", help="use generated events instead")
    b.add_argument("--events", type=int, default=0, help="events to replay (0: all)")
    b.add_argument("--latency-seconds", type=float, default=20.0, help="latency phase length")
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.add_argument("--profile", type=Path, help="run the worker under cProfile, write here")
    b.set_defaults(handler=_bench_stream)


def _bench_stream(args: argparse.Namespace) -> int:
    from streamrec.stream.tools.bench import run_bench_cli

    return int(run_bench_cli(args))
