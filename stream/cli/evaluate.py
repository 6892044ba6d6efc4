"""`streamrec evaluate` (registered by streamrec.stream.cli.main).

A checkpoint or a baseline under full ranking, a checkpoint blended with item-to-item
transitions, or a checkpoint's buy head.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from streamrec.stream.cli.train import (
    DATA_HELP,
    blend_args,
    data_args,
    load_kwargs,
    parse_alphas,
)
from streamrec.stream.config.cache import load_cache_settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """The ``evaluate`` command."""
    _register_evaluate(sub)


def _register_evaluate(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint or a baseline under full ranking",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Rank every item for each evaluation target and report HR/NDCG/MRR@5,10,20. "
            "Baselines are fitted on the events before the targets: popularity (counts), "
            "cooccurrence (items that followed the user's latest items). --json prints "
            "every metric as one JSON object on the last line."
        ),
        epilog=DATA_HELP + "\nexamples:\n  streamrec evaluate --baseline popularity "
        "--data ../shared/datasets/amazon_beauty_s3rec.txt --format sequences --json\n"
        "  streamrec evaluate --checkpoint runs/beauty/gru.pt "
        "--data ../shared/datasets/amazon_beauty_s3rec.txt --format sequences --json\n",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="a checkpoint written by streamrec train")
    what.add_argument(
        "--bundle",
        help="an exported bundle, scored as a worker serves it: states from its encode graph, "
        "the last event through its step, the history excluded (top-k only: HR/NDCG up to k)",
    )
    what.add_argument(
        "--baseline",
        choices=("popularity", "cooccurrence", "text"),
        help="text: cosine of item titles to the user's last 3 items (needs --catalog)",
    )
    data_args(p)
    p.add_argument("--split", choices=("test", "valid"), default="test", help="which targets")
    p.add_argument(
        "--topk",
        choices=("exact", "index"),
        default="exact",
        help="with --bundle: score every row (exact) or serve through the bundle's item index",
    )
    p.add_argument(
        "--ties",
        choices=("index", "pessimistic", "optimistic", "average"),
        default="index",
        help="tied scores: row order (default), worst, best or expected rank",
    )
    g = p.add_argument_group("item text")
    g.add_argument(
        "--catalog",
        default=None,
        help="item catalog (CSV/JSONL). With --checkpoint (trained with --catalog): items "
        "the model never saw get rows from their text first, as the worker gives announced "
        "items. With --baseline text: the titles to compare.",
    )
    g.add_argument("--text-encoder", default=None, help="exported encoder directory")
    b = p.add_argument_group("blend with item-to-item transitions (--checkpoint only)")
    b.add_argument(
        "--neighbours",
        action="store_true",
        help="add alpha x the transition weights of the user's 3 latest items (a table of "
        "each item's strongest followers, counted on the events before the targets) to the "
        "model's scores; alpha is chosen on the validation targets, the test figures use it",
    )
    blend_args(b)
    b.add_argument(
        "--save",
        metavar="PATH",
        default=None,
        help="write the checkpoint with the chosen blend here (the table counted on every "
        "event before the test targets); `streamrec export` puts it into the step graph",
    )
    p.add_argument(
        "--buy-report",
        metavar="DIR",
        default=None,
        help="judge the checkpoint's buy head instead: ROC-AUC, PR-AUC, and precision, recall "
        "and F1 at the F1-best threshold of the validation period, against the base rate and "
        "the carts in the user's session; writes DIR/buy.json and DIR/calibration.png "
        "(data with buys and a time split, e.g. --format taobao --protocol time)",
    )
    p.add_argument("--json", action="store_true", help="print metrics as JSON on the last line")
    p.set_defaults(handler=_evaluate)


def _evaluate_blend(args: argparse.Namespace) -> int:
    from streamrec.models.training.report import to_json
    from streamrec.models.workflow import evaluate_blend

    if not args.checkpoint:
        print("error: --neighbours blends a --checkpoint's scores", file=sys.stderr)
        return 2
    try:
        alphas = parse_alphas(args.alphas)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics = evaluate_blend(
        args.checkpoint,
        args.data,
        args.format,
        args.protocol,
        alphas,
        args.neighbour_width,
        save=args.save,
        **load_kwargs(args),
    )
    if args.json:
        print(to_json({"model": args.checkpoint, "blend": "neighbours", **metrics}))
    else:
        for key, value in metrics.items():
            print(f"{key:>16} {value}")
    if args.save:
        print(f"written: {args.save} (alpha {metrics['alpha']:g})", file=sys.stderr)
    return 0


def _evaluate_buys(args: argparse.Namespace) -> int:
    from streamrec.models.training.report import to_json
    from streamrec.models.workflow import evaluate_buys

    if not args.checkpoint:
        print("error: --buy-report judges a --checkpoint's buy head", file=sys.stderr)
        return 2
    report = evaluate_buys(
        args.checkpoint,
        args.data,
        args.format,
        args.protocol,
        args.buy_report,
        **load_kwargs(args),
    )
    if args.json:
        print(to_json({"model": args.checkpoint, **report}))
        return 0
    print(
        f"{report['test_examples']} test events, buy rate {report['test_buy_rate']:.4f}; "
        "threshold chosen on the validation period (best F1)"
    )
    head = f"{'predictor':<22}{'ROC-AUC':>8}{'PR-AUC':>8}{'thresh.':>9}"
    print(head + f"{'prec.':>7}{'recall':>7}{'F1':>7}{'acc.':>7}   at 0.5: prec. recall F1 acc.")
    for row in report["rows"]:
        c, h = row["at_chosen"], row["at_half"]
        print(
            f"{row['name']:<22}{row['roc_auc']:>8.4f}{row['pr_auc']:>8.4f}{row['threshold']:>9.4f}"
            f"{c['precision']:>7.3f}{c['recall']:>7.3f}{c['F1']:>7.3f}{c['accuracy']:>7.3f}"
            f"   {h['precision']:.3f} {h['recall']:.3f} {h['F1']:.3f} {h['accuracy']:.3f}"
        )
    print(f"written: {Path(args.buy_report) / 'buy.json'}, calibration.png")
    return 0


def _evaluate_bundle(args: argparse.Namespace) -> dict[str, float]:
    from streamrec.export.bundle_scorer import BundleScorer
    from streamrec.export.runtime import StepSession
    from streamrec.export.spec import INDEX_ROLE
    from streamrec.models.training.evaluate import evaluate
    from streamrec.models.training.metrics import KS
    from streamrec.models.workflow import load_dataset

    graph = INDEX_ROLE if args.topk == "index" else "step"
    session = StepSession.open(args.bundle, provider="cpu", graph=graph, spin=False)
    dataset = load_dataset(
        args.data, args.format, args.protocol, vocab=session.vocab.copy(), **load_kwargs(args)
    )
    ks = tuple(k for k in KS if k <= session.k)  # ranks past the step's top k are unknown
    return evaluate(BundleScorer(session), dataset.split, args.split, ks=ks, ties=args.ties)


def _evaluate(args: argparse.Namespace) -> int:
    from streamrec.models.training.report import to_json
    from streamrec.models.workflow import evaluate_baseline, evaluate_checkpoint, load_dataset

    encoder = Path(args.text_encoder or load_cache_settings().text_encoder_dir)
    if args.neighbours:
        return _evaluate_blend(args)
    if args.buy_report:
        return _evaluate_buys(args)
    if args.bundle:
        metrics = _evaluate_bundle(args)
        name = f"{args.bundle} ({args.topk})"
    elif args.checkpoint:
        metrics = evaluate_checkpoint(
            args.checkpoint,
            args.data,
            args.format,
            args.protocol,
            args.split,
            args.ties,
            catalog=args.catalog,
            encoder_dir=encoder,
            **load_kwargs(args),
        )
        name = args.checkpoint
    else:
        if args.baseline == "text" and not args.catalog:
            print("error: --baseline text needs --catalog", file=sys.stderr)
            return 2
        dataset = load_dataset(args.data, args.format, args.protocol, **load_kwargs(args))
        metrics = evaluate_baseline(
            dataset, args.baseline, args.split, args.ties, args.catalog, encoder
        )
        name = args.baseline
    if args.json:
        print(to_json({"model": name, "split": args.split, **metrics}))
    else:
        for key, value in metrics.items():
            print(f"{key:>16} {value:.4f}")
    return 0
