"""`streamrec train` (registered by streamrec.stream.cli.main).

Also the data and blend options that ``evaluate`` and ``bench`` share. Heavy imports (torch,
numpy) happen inside the handlers so that ``streamrec --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from streamrec.stream.config.cache import load_cache_settings

FORMATS = ("csv", "jsonl", "parquet", "taobao", "sequences", "recsys15")

DATA_HELP = """\
input formats (--format):
  csv, jsonl, parquet  one event per row; columns user_id,item_id,action,ts,session_id
                       (rename with --columns "user=uid,item=sku,action=type,ts=time";
                       "action=" means no action column: every event is a click).
                       ts: Unix seconds (--ts-unit ms for milliseconds) or ISO-8601.
                       actions: click/view/pv, cart/addtocart, fav/like, buy/purchase/order.
  taobao               Taobao UserBehavior CSV, no header: user,item,category,behavior,ts
  sequences            one user per line: "user item1 item2 ..." in time order
                       (e.g. ../shared/datasets/amazon_beauty_s3rec.txt)
  recsys15             RecSys'15 yoochoose-clicks.dat (session,ts,item,category);
                       add --buys yoochoose-buys.dat for the purchases

cleaning: rows with missing fields, unparsable timestamps or unknown actions are dropped,
exact duplicates removed, out-of-order rows re-sorted; counts are reported. --k-core K
keeps only users and items with at least K events.

protocols (--protocol):
  loo    leave-one-out (default for sequences): last item tests, the one before validates,
         every item is ranked, items in the user's history are excluded.
  time   time split (default for event logs): the last 20% of time tests, the 10% before
         validates; targets are events on items new to the user.

metrics: HR@K, NDCG@K, MRR@K for K = 5, 10, 20; with buys in the data, the buy head's AUC,
accuracy, precision, recall and F1 (prefixed buy_).
"""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this package's subcommands to the CLI."""
    _register_train(sub)


DEFAULT_ALPHAS = "0,0.5,1,2,4,8,16,32,64"


def parse_alphas(text: str) -> tuple[float, ...]:
    """``--alphas``: a comma list of blend weights; ValueError with the message to show."""
    try:
        return tuple(float(a) for a in text.split(","))
    except ValueError:
        raise ValueError(f"--alphas is a comma list of numbers, not {text!r}") from None


def blend_args(group: argparse._ArgumentGroup) -> None:
    """``--alphas`` and ``--neighbour-width``: the transition blend's search (train, evaluate)."""
    group.add_argument(
        "--alphas",
        default=DEFAULT_ALPHAS,
        help="comma list of weights to try (default: %(default)s)",
    )
    group.add_argument(
        "--neighbour-width", type=int, default=64, help="followers kept per item (default 64)"
    )


def data_args(p: argparse.ArgumentParser) -> None:
    """The data file's arguments (shared by train, evaluate and bench quality)."""
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, help="event file to read (see formats below)")
    g.add_argument("--format", required=True, choices=FORMATS, help="layout of --data")
    g.add_argument("--columns", default="", help='column mapping, e.g. "user=uid,ts=time"')
    g.add_argument("--ts-unit", choices=("s", "ms"), default="s", help="numeric timestamp unit")
    g.add_argument("--buys", default=None, help="recsys15 only: the buys file")
    g.add_argument("--k-core", type=int, default=0, help="k-core filter (0: off)")
    g.add_argument("--protocol", choices=("loo", "time"), default=None, help="split protocol")


def load_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The loader's keyword arguments from :func:`data_args`' arguments."""
    from streamrec.models.data.loaders import ColumnMap

    return {
        "columns": ColumnMap.parse(args.columns) if args.columns else None,
        "ts_unit": args.ts_unit,
        "k_core": args.k_core,
        "buys": args.buys,
    }


def _register_train(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "train",
        help="train the GRU/LSTM (or the SASRec baseline) and write a checkpoint",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Train a next-item model with full-softmax cross-entropy over the catalog on "
            "every position, AdamW, early stopping on validation NDCG@10. Writes the "
            "checkpoint (--out: state_dict + config + vocabulary + metrics) and, with "
            "--report-dir, metrics.json, curves.png and results.md. Uses CUDA when "
            "available, else the CPU."
        ),
        epilog=DATA_HELP
        + "\nexample:\n  streamrec train --data ../shared/datasets/amazon_beauty_s3rec.txt "
        "--format sequences --out runs/beauty/gru.pt --report-dir runs/beauty\n",
    )
    data_args(p)
    p.add_argument("--out", required=True, help="checkpoint path to write")
    p.add_argument("--report-dir", default=None, help="write metrics.json, curves.png here")
    m = p.add_argument_group("model")
    m.add_argument("--model", choices=("gru", "lstm", "sasrec"), default="gru")
    m.add_argument("--embed-dim", type=int, default=64)
    m.add_argument("--hidden-dim", type=int, default=128, help="recurrent state width")
    m.add_argument("--dropout", type=float, default=0.3)
    m.add_argument("--untied", action="store_true", help="separate output item embeddings")
    m.add_argument(
        "--skip", action="store_true", help="gru/lstm: current item also feeds the query"
    )
    m.add_argument("--init-std", type=float, default=0.02, help="embedding init std")
    m.add_argument("--blocks", type=int, default=2, help="sasrec: transformer blocks")
    m.add_argument("--heads", type=int, default=2, help="sasrec: attention heads")
    t = p.add_argument_group("training")
    t.add_argument("--max-len", type=int, default=50, help="events of history per window")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--epochs", type=int, default=100, help="upper bound on epochs")
    t.add_argument("--patience", type=int, default=8, help="early-stopping patience")
    t.add_argument("--negatives", type=int, default=0, help="sampled softmax (0: full)")
    t.add_argument("--buy-weight", type=float, default=0.1, help="buy-head loss weight")
    t.add_argument(
        "--monitor",
        choices=("NDCG@10", "HR@10", "MRR@10", "buy_AUC"),
        default="NDCG@10",
        help="validation metric that picks the best epoch and stops early (default: "
        "%(default)s; buy_AUC for a model judged by its buy head)",
    )
    t.add_argument("--time-budget", type=float, default=0.0, help="stop after N seconds")
    t.add_argument("--valid-users", type=int, default=0, help="validate on N users (0: all)")
    t.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="", help="cpu, cuda, cuda:1 (default: auto)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    _text_args(p)
    b = p.add_argument_group(
        "item-to-item transitions (gru/lstm)",
        "After training, the checkpoint gets each item's strongest followers (counted on the "
        "training events) and the weight alpha at which they are added to the model's scores, "
        "chosen on the validation targets; alpha 0 means the model alone. Export carries them "
        "into the step graph, so workers serve the blend (O(3 x width) extra work per event).",
    )
    b.add_argument(
        "--no-neighbours", action="store_true", help="serve the model alone (no transitions)"
    )
    blend_args(b)
    p.add_argument("--json", action="store_true", help="print all metrics as JSON last")
    p.set_defaults(handler=_train)


def _text_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "item text (gru/lstm)",
        "With --catalog, each item's vector is its learned id embedding fused with a learned "
        "projection of its title's sentence embedding (all-MiniLM-L6-v2, frozen, run by ONNX "
        "Runtime). The checkpoint keeps the projection, so serving can give an item announced "
        "on the items topic a row before anyone clicks it.",
    )
    g.add_argument(
        "--catalog",
        default=None,
        help="item catalog, CSV (header) or JSONL: item_id,title[,category][,brand]"
        "[,price][,description]; its item_id must match the events' item ids",
    )
    g.add_argument(
        "--fusion",
        choices=("sum", "gate", "concat"),
        default="sum",
        help="how id and text parts combine (default sum: best NDCG@10 measured)",
    )
    g.add_argument(
        "--text-loss",
        type=float,
        default=2.0,
        help="weight of the loss that ranks with the text part alone (cold start; default 2)",
    )
    g.add_argument(
        "--id-dropout", type=float, default=0.0, help="share of id parts dropped per step"
    )
    g.add_argument(
        "--text-encoder",
        default=None,
        help="exported encoder directory (default: ~/.cache/streamrec, exported on first use)",
    )


def _train(args: argparse.Namespace) -> int:
    from streamrec.models.training.report import to_json
    from streamrec.models.training.train import TrainConfig
    from streamrec.models.workflow import BlendOptions, load_dataset, train_and_save

    cfg = TrainConfig(
        model=args.model,
        embed_dim=args.embed_dim,
        hidden_dim=args.hidden_dim,
        dropout=args.dropout,
        tied=not args.untied,
        skip=args.skip,
        init_std=args.init_std,
        num_blocks=args.blocks,
        num_heads=args.heads,
        max_len=args.max_len,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        epochs=args.epochs,
        patience=args.patience,
        negatives=args.negatives,
        buy_weight=args.buy_weight,
        monitor=args.monitor,
        seed=args.seed,
        time_budget_s=args.time_budget,
        valid_users=args.valid_users,
        threads=args.threads,
        device=args.device,
    )
    text = None
    if args.catalog:
        from streamrec.models.text.train import TextOptions

        if args.model == "sasrec" or args.untied:
            msg = "error: --catalog needs --model gru or lstm with tied embeddings"
            print(msg, file=sys.stderr)
            return 2
        text = TextOptions(
            catalog=Path(args.catalog),
            fusion=args.fusion,
            text_loss=args.text_loss,
            id_dropout=args.id_dropout,
            encoder_dir=Path(args.text_encoder or load_cache_settings().text_encoder_dir),
        )
    blend = None
    if args.model != "sasrec" and not args.no_neighbours:
        try:
            blend = BlendOptions(parse_alphas(args.alphas), args.neighbour_width)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    dataset = load_dataset(args.data, args.format, args.protocol, **load_kwargs(args))
    summary = train_and_save(
        dataset, cfg, args.out, args.report_dir, not args.no_progress, text=text, blend=blend
    )
    test = summary["test"]
    out = sys.stderr if args.json else sys.stdout
    print(
        f"best epoch {summary['best_epoch']}/{summary['epochs_run']} "
        f"in {summary['train_seconds']} s; test HR@10 {test['HR@10']:.4f} "
        f"NDCG@10 {test['NDCG@10']:.4f}; checkpoint {summary['checkpoint']}",
        file=out,
    )
    if "blend" in summary:
        b = summary["blend"]
        print(
            f"served with transitions (alpha {b['alpha']:g}, chosen on validation): test "
            f"HR@10 {b['test']['HR@10']:.4f} NDCG@10 {b['test']['NDCG@10']:.4f}",
            file=out,
        )
    if args.json:
        print(to_json(summary))
    return 0
