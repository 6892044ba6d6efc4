"""`streamrec chaos`: the fault harness's subcommand (registered by streamrec.stream.cli.main)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``streamrec chaos`` to the CLI."""
    c = sub.add_parser(
        "chaos",
        help="fault harness: kill workers and bounce brokers under load, then verify",
        description="Start a local 3-broker cluster (deploy/kafka/kafka.sh, free ports, a "
        "temporary directory) and worker processes on a tiny model; send valid events with "
        "poison mixed in while workers are SIGKILLed and restarted, brokers bounced and a "
        "worker added and removed; then check that no event was lost, applied twice or left "
        "unanswered, that a fresh worker restores the same state from the changelog, and "
        "that the dead letters are the poison sent. Exit 0 only when all hold; 2 when the "
        "harness itself failed. Progress goes to stderr, the table to stdout.\n\n"
        "--scenario scale: no faults; one worker under a steady load, then three, then two, "
        "scraped by a real Prometheus (Debian's package, started here). Besides the "
        "verifier, its HTTP API must show every worker, a handled rate in each phase that "
        "matches the load, and applied events that add up to those sent.",
    )
    c.add_argument(
        "--scenario",
        choices=("faults", "scale"),
        default="faults",
        help="faults: kills and bounces (default); scale: add and remove workers under Prometheus",
    )
    c.add_argument(
        "--phase-seconds",
        type=float,
        default=60.0,
        help="scale: how long each fleet size serves the load",
    )
    c.add_argument("--kills", type=int, default=20, help="worker SIGKILLs")
    c.add_argument("--bounces", type=int, default=5, help="broker bounces")
    c.add_argument("--workers", type=int, default=3, help="workers at the start")
    c.add_argument("--rate", type=float, help="events per second (default 40; scale: 100)")
    c.add_argument("--users", type=int, help="distinct users (default 100; scale: 200)")
    c.add_argument("--seed", type=int, default=0, help="seed of the load and the schedule")
    c.add_argument(
        "--standby-replicas", type=int, default=0, help="STREAMREC_STANDBY_REPLICAS of the workers"
    )
    c.add_argument(
        "--interval", type=float, default=4.0, help="seconds between recovery and the next fault"
    )
    c.add_argument("--work-dir", type=Path, help="directory for logs and state (default: temp)")
    c.add_argument("--keep", action="store_true", help="keep logs, state and broker data")
    c.add_argument("--json", action="store_true", help="print the result as JSON instead")
    c.set_defaults(handler=_chaos)


def _chaos(args: argparse.Namespace) -> int:
    import logging

    import orjson

    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO drowns the progress

    from streamrec.stream.tools.chaos.cluster import ClusterError
    from streamrec.stream.tools.chaos.config import ChaosConfig
    from streamrec.stream.tools.chaos.fleet import FleetError
    from streamrec.stream.tools.chaos.run import ChaosError, run_chaos
    from streamrec.stream.tools.chaos.verify import format_table

    if args.scenario == "scale":
        return _scale(args)
    config = ChaosConfig(
        kills=args.kills,
        bounces=args.bounces,
        workers=args.workers,
        rate=args.rate or 40.0,
        users=args.users or 100,
        seed=args.seed,
        standby_replicas=args.standby_replicas,
        fault_interval_s=args.interval,
        work_dir=args.work_dir,
        keep=args.keep,
    )
    try:
        result = run_chaos(config)
    except (ChaosError, ClusterError, FleetError) as exc:
        print(f"streamrec chaos: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_table(result.verdict, result.wall_s))
        if result.kept:
            print(f"logs and state kept in {result.work_dir}")
    return 0 if result.verdict.ok else 1


def _scale(args: argparse.Namespace) -> int:
    import orjson

    from streamrec.stream.tools.chaos.cluster import ClusterError
    from streamrec.stream.tools.chaos.fleet import FleetError
    from streamrec.stream.tools.chaos.prometheus import PrometheusError
    from streamrec.stream.tools.chaos.run import ChaosError
    from streamrec.stream.tools.chaos.scale import ScaleConfig, format_result, run_scale

    config = ScaleConfig(
        rate=args.rate or 100.0,
        phase_s=args.phase_seconds,
        users=args.users or 200,
        seed=args.seed,
        work_dir=args.work_dir,
        keep=args.keep,
    )
    try:
        result = run_scale(config)
    except (ChaosError, ClusterError, FleetError, PrometheusError) as exc:
        print(f"streamrec chaos: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_result(result))
    return 0 if result.ok else 1
