"""`streamrec bench step|index|catalog|encode`: the exported graphs and the item index alone.

Registered under `streamrec bench` by streamrec.stream.cli.bench; handlers import heavy
dependencies only when they run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from streamrec.stream.cli.common import Subparsers
from streamrec.stream.cli.export import quiet_exporter_logs


def add_bench_step(bench: Subparsers[Any]) -> None:
    """``bench step`` and ``bench encode``: the ONNX graphs alone."""
    s = bench.add_parser(
        "step",
        help="per-event throughput/latency of the ONNX step vs torch eager",
        description="Batch sizes 1..1024 at catalogs of 10k, 100k, 1M items; ONNX Runtime and "
        "torch eager interleaved in one run; prints latency p50/p99, events/s and the ratio.",
    )
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--quick", action="store_true", help="10k/100k items, batches 1/64/256")
    s.add_argument("--catalogs", help="comma list of catalog sizes")
    s.add_argument("--batches", help="comma list of batch sizes")
    s.add_argument("--iters", type=int, help="timed calls per engine and cell (max)")
    s.add_argument("--threads", type=int, help="threads for both engines (default: all cores)")
    s.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto")
    s.add_argument(
        "--transitions",
        action="store_true",
        help="also time the step with an item-to-item transition table (64 followers per "
        "item, what `streamrec train` adds) in the same interleaving; the transitions column "
        "of --json is its throughput over the plain step's",
    )
    s.add_argument(
        "--int8",
        action="store_true",
        help="also time the int8-quantised step (what `export --variants int8` writes) in the "
        "same interleaving; the int8 column of --json is its throughput over float32's (speed "
        "only: a random model's int8 graph would not pass export's ranking gate)",
    )
    s.add_argument(
        "--gpu-suite",
        action="store_true",
        help="the ONNX step on CUDA vs CPU at 50k and 1M items, batches 1/64/256/1024 (CPU "
        "alone where no GPU is usable; under 10 min on a GPU machine); writes --out",
    )
    s.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results/gpu-suite.json"),
        help="JSON file of --gpu-suite",
    )
    s.set_defaults(handler=_bench_step)

    i = bench.add_parser(
        "index",
        help="maximum-inner-product indexes (faiss, usearch) against exact top-10",
        description="For a checkpoint's item table (queries from its own step) or a generated "
        "one, time exact scoring and each index at a batch of 256 queries, one thread: "
        "microseconds per event, recall@10 against exact (each index fetches 20, room to drop "
        "excluded rows), build time and memory. Needs the dev extra (faiss-cpu, usearch).",
    )
    i.add_argument("--checkpoint", action="append", default=[], help="a checkpoint (repeatable)")
    i.add_argument(
        "--generated", default="", help="comma list of generated table sizes, e.g. 100000"
    )
    i.add_argument("--json", action="store_true", help="print the rows as JSON")
    i.set_defaults(handler=_bench_index)

    c = bench.add_parser(
        "catalog",
        help="exact scoring against the item index as the catalog grows (trained model)",
        description="Grow a trained checkpoint's catalog to each size (added items: its own "
        "item vectors plus noise), export it with an item index (the recall gate on the "
        "data's real next events), and time the exact step graph and the index-served step "
        "interleaved on the same batches of 256 real inputs, one thread: p50/p99 per batch, "
        "events/s, recall@10 against exact, index build time, memory. Writes catalog.json and "
        "catalog.png under --out. A million items take about 10 minutes and 10 GB to export.",
    )
    c.add_argument("--checkpoint", type=Path, required=True, help="a trained checkpoint")
    c.add_argument("--data", type=Path, required=True, help="the model's own events")
    c.add_argument("--format", default="taobao", help="format of --data (as `streamrec train`)")
    c.add_argument(
        "--catalogs", default="100000,300000,1000000", help="comma list of catalog sizes"
    )
    c.add_argument("--out", type=Path, default=Path("bench-results/catalog"), help="output dir")
    c.add_argument("--json", action="store_true", help="print the rows as JSON")
    c.set_defaults(handler=_bench_catalog)

    n = bench.add_parser(
        "encode",
        help="re-encoding histories: the encode graph vs looping the step graph",
        description="Time re-encoding B histories of L events in one encode-graph call against "
        "L calls of the step graph (which also scores the catalog each time).",
    )
    n.add_argument("--catalogs", default="10000,100000", help="comma list of catalog sizes")
    n.add_argument("--batches", default="1,256", help="comma list of batch sizes")
    n.add_argument("--length", type=int, default=50, help="events per history")
    n.add_argument("--json", action="store_true", help="print the result as JSON")
    n.set_defaults(handler=_bench_encode)


def _bench_step(args: argparse.Namespace) -> int:
    import orjson

    from streamrec.export.bench import BenchConfig, format_table, run_bench

    quiet_exporter_logs()
    if args.gpu_suite:
        return _gpu_suite(args)
    overrides = {
        "provider": args.provider,
        "blend": args.transitions,
        "int8": args.int8,
        **_grid(args, "threads"),
    }
    cfg = BenchConfig.quick(**overrides) if args.quick else BenchConfig(**overrides)
    result = run_bench(cfg)
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"threads {result['threads']}, torch {result['torch']}")
        print(format_table(result))
        for cell in result["ratios"]:
            for key in ("transitions", "int8"):
                if key in cell:
                    print(
                        f"{cell['catalog']:,} items, batch {cell['batch']}: {key} "
                        f"{cell[key]:.2f}x the plain step's events/s"
                    )
    return 0


def _grid(args: argparse.Namespace, threads_field: str) -> dict[str, Any]:
    """The step benchmarks' shared flags (catalogs, batches, iters, threads) that were set."""
    grid: dict[str, Any] = {}
    if args.catalogs:
        grid["catalogs"] = tuple(int(x) for x in args.catalogs.split(","))
    if args.batches:
        grid["batches"] = tuple(int(x) for x in args.batches.split(","))
    if args.iters:
        grid["iters"] = args.iters
    if args.threads:
        grid[threads_field] = args.threads
    return grid


def _gpu_suite(args: argparse.Namespace) -> int:
    import orjson

    from streamrec.export.gpu_suite import SuiteConfig, run_gpu_suite

    overrides = _grid(args, "cpu_threads")
    result = run_gpu_suite(SuiteConfig(**overrides))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"CUDA: {result['cuda']}; {len(result['rows'])} rows in {result['wall_s']} s")
    for row in result["rows"]:
        print(
            f"{row['catalog']:>9,} items  batch {row['batch']:>4}  {row['provider']:4}  "
            f"p50 {row['p50_ms']:8.3f} ms  p99 {row['p99_ms']:8.3f} ms  "
            f"{row['events_per_s']:>12,.0f} events/s"
        )
    print(f"wrote {args.out}")
    return 0


def _bench_index(args: argparse.Namespace) -> int:
    import orjson

    from streamrec.export.index_bench import format_rows, run_index_bench

    try:
        sizes = [int(x) for x in args.generated.split(",") if x.strip()]
    except ValueError:
        print(
            f"error: --generated is a comma list of sizes, not {args.generated!r}", file=sys.stderr
        )
        return 2
    if not sizes and not args.checkpoint:
        print("error: give --checkpoint PATH and/or --generated SIZES", file=sys.stderr)
        return 2
    try:
        result = run_index_bench(args.checkpoint, sizes)
    except ImportError as exc:
        print(f"error: {exc}; install the dev extra (faiss-cpu, usearch)", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_rows(result))
    return 0


def _bench_catalog(args: argparse.Namespace) -> int:
    import tempfile

    import orjson

    from streamrec.export.catalog_bench import format_rows, plot, run_catalog_bench
    from streamrec.export.errors import ExportError
    from streamrec.models.data.loaders import LoaderError, load_events
    from streamrec.models.nets.checkpoint import CheckpointError

    quiet_exporter_logs()
    try:
        sizes = [int(x) for x in args.catalogs.split(",") if x.strip()]
    except ValueError:
        print(f"error: --catalogs is a comma list of sizes, not {args.catalogs!r}", file=sys.stderr)
        return 2
    try:
        events, _ = load_events(args.data, args.format)
    except LoaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    per_user: dict[str, list[tuple[float, str]]] = {}
    for e in events:
        per_user.setdefault(e.user_id, []).append((e.ts, e.item_id))
    histories = [[item for _, item in sorted(v)] for v in per_user.values()]
    try:
        with tempfile.TemporaryDirectory(prefix="streamrec-catalog-") as work:
            result = run_catalog_bench(args.checkpoint, sizes, histories, Path(work))
    except (CheckpointError, ExportError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "catalog.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    plot(result, args.out / "catalog.png")
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_rows(result))
        print(f"wrote {args.out / 'catalog.json'} and {args.out / 'catalog.png'}")
    return 0


def _bench_encode(args: argparse.Namespace) -> int:
    import orjson

    from streamrec.export.bench import BenchConfig, bench_encode

    quiet_exporter_logs()
    cfg = BenchConfig(iters=10, cell_budget_s=5.0)
    rows = [
        bench_encode(int(c), int(b), args.length, cfg)
        for c in args.catalogs.split(",")
        for b in args.batches.split(",")
    ]
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    print("| catalog | batch | events | encode graph ms | step loop ms | speedup |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['catalog']:,} | {r['batch']} | {r['length']} | {r['encode_graph_ms']:.2f} "
            f"| {r['step_loop_ms']:.2f} | {r['speedup']:.1f}x |"
        )
    return 0
