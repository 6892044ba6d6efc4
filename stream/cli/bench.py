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
    from streamrec.stream.cli.bench_graphs import add_bench_step
    from streamrec.stream.cli.distribute import add_bench_online
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
    add_bench_quality(bench)


def add_bench_quality(bench: Subparsers[Any]) -> None:
    """``bench quality``: every model and baseline under one next-item protocol."""
    from streamrec.stream.cli.train import DATA_HELP, data_args

    b = bench.add_parser(
        "quality",
        help="next-item quality: baselines, checkpoints and blends in one table",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Evaluate popularity, item-to-item co-occurrence and every --checkpoint "
        "on one data file under one protocol (full ranking, history items excluded; "
        "baselines fitted on the events before the targets) and print one table: "
        "HR/NDCG@5/10/20, MRR@10 and each row's evaluation time. With --neighbours every "
        "recurrent checkpoint also gets a row blended with item-to-item transitions, its "
        "weight chosen on the validation targets. Published rows on the same protocol are "
        "shown beside ours when the file is a known one. Evaluation is deterministic.",
        epilog=DATA_HELP + "\nexample:\n  streamrec bench quality "
        "--data ../shared/datasets/amazon_beauty_s3rec.txt --format sequences \\\n"
        "      --checkpoint gru=runs/beauty/gru_skip_b128.pt "
        "--checkpoint sasrec=runs/beauty/sasrec_b128.pt --neighbours\n",
    )
    data_args(b)
    b.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a checkpoint written by streamrec train, with the name its row gets (repeat)",
    )
    b.add_argument(
        "--neighbours", action="store_true", help="add a transition-blend row per GRU/LSTM"
    )
    b.add_argument("--alphas", default=None, help="blend weights to try (comma list)")
    b.add_argument("--json", action="store_true", help="print the rows as JSON instead")
    b.set_defaults(handler=_quality)


def _quality(args: argparse.Namespace) -> int:
    import sys

    from streamrec.models.quality import format_table, quality_rows, to_dict
    from streamrec.models.training.report import to_json
    from streamrec.stream.cli.train import load_kwargs, parse_alphas

    checkpoints = {}
    for item in args.checkpoint:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            print(f"error: --checkpoint takes NAME=PATH, not {item!r}", file=sys.stderr)
            return 2
        if not Path(path).is_file():
            print(f"error: no checkpoint at {path}", file=sys.stderr)
            return 2
        checkpoints[name] = path
    try:
        alphas = parse_alphas(args.alphas) if args.alphas else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = quality_rows(
        args.data,
        args.format,
        checkpoints,
        args.protocol,
        args.neighbours,
        alphas,
        **load_kwargs(args),
    )
    print(to_json({"rows": to_dict(rows)}) if args.json else format_table(rows))
    return 0


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
        "--catalog",
        type=int,
        default=0,
        help="items in the default bundle's catalog: the replay's items plus items no event "
        "names, up to this many (0: the replay's items only), e.g. 100000 or 1000000; the "
        "untrained default model scores every row, --checkpoint gets an item index",
    )
    b.add_argument(
        "--checkpoint",
        type=Path,
        help="the default bundle is this trained checkpoint instead of an untrained model, "
        "exported as `streamrec export` does (an item index from 50,000 items); with "
        "--catalog its catalog is grown with items made of its trained item vectors plus "
        "noise",
    )
    b.add_argument(
        "--no-transitions",
        action="store_true",
        help="the default bundle without item-to-item transitions (the model alone)",
    )
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
