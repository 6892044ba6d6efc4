"""`streamrec` subcommands of the stream package (registered by streamrec.stream.cli.main).

Handlers import their heavy dependencies (faust, onnxruntime, kafka) when they run, so
``streamrec --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from streamrec.stream.cli.common import kafka_flags, overrides, reachable
from streamrec.stream.cli.settings_flags import add_settings_flags, setting_overrides
from streamrec.stream.config.settings import Settings, load_settings


def _settings(args: argparse.Namespace, *names: str) -> Settings:
    return load_settings(**overrides(args, *names))


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this package's subcommands to the CLI."""
    w = sub.add_parser(
        "worker",
        help="run a stream worker (replicas with one app id share the partitions)",
        description="Consume events, keep per-user state, publish recommendations. Each "
        "setting below is read from its STREAMREC_* variable; a flag wins over the variable. "
        "`streamrec config worker` prints what is in effect; docs/settings.md is the same "
        "list as a page.",
        usage="%(prog)s [--bundle BUNDLE] [options]",
    )
    rows = add_settings_flags(w, Settings, "worker")
    w.set_defaults(handler=_worker, setting_rows=rows)

    p = sub.add_parser(
        "publish",
        help="publish an event file to the events topic",
        description="Send events from a CSV/JSONL/Parquet/Taobao file (formats of "
        "`streamrec train`) as JSON, keyed by user id, with a rate limit and a progress bar.",
    )
    kafka_flags(p, "events_topic")
    p.add_argument("file", type=Path)
    p.add_argument("--format", help="csv, jsonl, parquet, taobao, ... (default: from suffix)")
    p.add_argument("--rate", type=float, default=0.0, help="events per second (0: no limit)")
    p.add_argument("--limit", type=int, default=0, help="publish at most N events (0: all)")
    p.set_defaults(handler=_publish)

    s = sub.add_parser(
        "subscribe",
        help="print recommendations as they arrive",
        description="Follow the recommendations topic (all partitions, no consumer group).",
    )
    kafka_flags(s, "recommendations_topic")
    s.add_argument("--user", help="only this user id")
    s.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    s.add_argument("--json", action="store_true", help="raw JSON lines instead of a summary")
    s.add_argument("--limit", type=int, default=0, help="stop after N records (0: never)")
    s.add_argument(
        "--idle-timeout", type=float, default=0.0, help="stop after N idle seconds (0: never)"
    )
    s.set_defaults(handler=_subscribe)

    d = sub.add_parser(
        "demo",
        help="generated events -> trained model -> worker -> live recommendations",
        description="The end-to-end demo behind `make demo` (needs a broker: STREAMREC_BOOTSTRAP).",
    )
    d.add_argument("--work-dir", type=Path, default=Path("runs/demo"), help="working directory")
    d.add_argument("--bundle", type=Path, help="skip training: serve this bundle")
    d.add_argument("--events", type=int, default=30_000, help="events to generate")
    d.add_argument(
        "--rate",
        type=float,
        default=250.0,
        help="live publishing rate, events/s (default 250: about half of what one worker "
        "drained on a busy 2-core machine, so latency stays flat)",
    )
    d.add_argument("--time-budget", type=float, default=60.0, help="training time, seconds")
    d.add_argument("--web-port", type=int, default=6066, help="worker HTTP port")
    d.set_defaults(handler=_demo)


def _worker(args: argparse.Namespace) -> int:
    from streamrec.stream.config.topics import TopicError
    from streamrec.stream.worker.run import run_worker
    from streamrec.stream.worker.serve import WorkerConfigError

    settings = load_settings(**setting_overrides(args, args.setting_rows))
    try:
        run_worker(settings)
    except (WorkerConfigError, TopicError) as exc:
        print(f"streamrec worker: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _demo(args: argparse.Namespace) -> int:
    from streamrec.stream.tools.demo import run_demo_cli

    return run_demo_cli(args)


def _publish(args: argparse.Namespace) -> int:
    from streamrec.stream.tools.clients import event_payload, publish, read_events

    settings = reachable(_settings(args))
    events = read_events(args.file, args.format)
    if args.limit:
        events = events[: args.limit]
    payloads = ((e.user_id.encode(), event_payload(e)) for e in events)
    sent = publish(settings, payloads, rate=args.rate, total=len(events))
    print(f"published {sent} events to {settings.events_topic}", file=sys.stderr)
    return 0


def _subscribe(args: argparse.Namespace) -> int:
    import orjson

    from streamrec.stream.tools.clients import follow, format_recommendation

    settings = reachable(_settings(args))
    seen = 0
    records = follow(
        settings,
        settings.recommendations_topic,
        from_beginning=args.from_beginning,
        idle_timeout_s=args.idle_timeout or None,
    )
    for rec in records:
        if args.user is not None and str(rec.get("user_id")) != args.user:
            continue
        line = orjson.dumps(rec).decode() if args.json else format_recommendation(rec)
        print(line, flush=True)
        seen += 1
        if args.limit and seen >= args.limit:
            break
    return 0
