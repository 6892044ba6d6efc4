"""`streamrec generate` (registered by streamrec.stream.cli.main): synthetic events."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """The ``generate`` command."""
    _register_generate(sub)


def _register_generate(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "generate",
        help="write synthetic events (CSV or JSONL) with real sequential structure",
        description=(
            "Simulate a shop: Zipf popularity, users with drifting topic interests, items "
            "followed by fixed successor items, click->cart->buy funnels, items released "
            "over time, sessions. Same --seed, same file. Output columns: "
            "user_id,item_id,action,ts,session_id (read back with --format csv/jsonl)."
        ),
    )
    p.add_argument("--out", required=True, help="output file (.csv or .jsonl)")
    p.add_argument("--users", type=int, default=1000, help="number of users")
    p.add_argument("--items", type=int, default=500, help="catalog size")
    p.add_argument("--events", type=int, default=50_000, help="number of events")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--sequential", type=float, default=0.6, help="P(next item is a successor)")
    p.set_defaults(handler=_generate)


def _generate(args: argparse.Namespace) -> int:
    from streamrec.models.data.synthetic import generate_events
    from streamrec.models.data.writers import write_events

    events = generate_events(
        args.users, args.items, args.events, args.seed, sequential=args.sequential
    )
    n = write_events(events, args.out)
    print(f"wrote {n} events to {args.out}")
    return 0
