"""`streamrec trainer` and `streamrec model list|rollback|publish` (registered by cli.main).

Heavy imports (torch, kafka, onnxruntime) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

from streamrec.stream.cli.common import Subparsers, kafka_flags, overrides, reachable
from streamrec.stream.cli.settings_flags import add_settings_flags, setting_overrides
from streamrec.stream.config.trainer_settings import TrainerSettings, load_trainer_settings


def _settings(args: argparse.Namespace, *names: str) -> TrainerSettings:
    """Every command here reads or writes the models topic: Kafka must take our login."""
    return reachable(load_trainer_settings(**overrides(args, *names)))


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the trainer and model-management subcommands."""
    t = sub.add_parser(
        "trainer",
        help="fine-tune on the live stream, gate, promote (one active per deployment)",
        description="Reads the events topic into a bounded window and, every T seconds or N "
        "events, fine-tunes the serving model, gates it on the newest slice and publishes "
        "it to the models topic when not worse. Safe to run twice: only the holder of the "
        "trainer lease acts. Each setting below is read from its STREAMREC_* variable; a flag "
        "wins over the variable (`streamrec config trainer` prints what is in effect).",
        usage="%(prog)s [options]",
    )
    rows = add_settings_flags(t, TrainerSettings, "online trainer")
    t.set_defaults(handler=_trainer, setting_rows=rows)

    m = sub.add_parser("model", help="list, roll back or publish model versions")
    msub = m.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="versions with their gate metrics, and the history")
    kafka_flags(ls, "models_topic")
    ls.set_defaults(handler=_list)
    rb = msub.add_parser("rollback", help="make an earlier promoted version serving again")
    kafka_flags(rb, "models_topic")
    rb.add_argument("version")
    rb.set_defaults(handler=_rollback)
    pub = msub.add_parser("publish", help="export a checkpoint and make it serving")
    kafka_flags(pub, "app_id", "models_topic")
    pub.add_argument("checkpoint", type=Path)
    pub.add_argument(
        "--model-version", dest="version", help="version name (default: derived from the time)"
    )
    pub.set_defaults(handler=_publish)


def add_bench_online(bench: Subparsers[Any]) -> None:
    """``bench online``: a replay with fine-tuning on vs off."""
    br = bench.add_parser(
        "online",
        help="replay a stream with fine-tuning on vs off (prequential HR@10 plot, ratio)",
        description="Trains a day-0 model on the first 20% of the events, then replays the "
        "rest in chunks: each chunk is scored by the frozen and the online model before the "
        "online side fine-tunes, gates and promotes. Writes a PNG and a JSON report.",
    )
    br.add_argument("--data", type=Path, help="event file (default: a generated drifting stream)")
    br.add_argument(
        "--format", default="taobao", help="format of --data (streamrec.models.data.loaders)"
    )
    br.add_argument("--limit", type=int, default=0, help="use the first N events of --data")
    br.add_argument("--events", type=int, default=8000, help="generated stream length")
    br.add_argument("--drift", type=float, default=0.5, help="generated interest drift")
    br.add_argument("--new-items", dest="new_items", type=float, default=0.7)
    br.add_argument("--chunk", type=int, default=800, help="events per replay chunk")
    br.add_argument("--window", type=int, default=6000, help="replay window (events)")
    br.add_argument("--out", type=Path, default=Path("bench-results/online"), help="output dir")
    br.set_defaults(handler=_bench_replay)


def _trainer(args: argparse.Namespace) -> int:
    from streamrec.stream.trainer.loop import Trainer
    from streamrec.stream.trainer.web import TrainerWeb
    from streamrec.stream.worker.logs import use_log_format

    settings = load_trainer_settings(**setting_overrides(args, args.setting_rows))
    use_log_format(settings)
    trainer = Trainer(settings)
    try:
        web = TrainerWeb(
            settings.web_host,
            settings.web_port,
            trainer.metrics,
            trainer.status,
            settings.stale_after_s,
        ).start()
    except OSError as exc:
        print(
            f"streamrec trainer: error: cannot serve HTTP on {settings.web_host}:"
            f"{settings.web_port} ({exc.strerror or exc}); set STREAMREC_WEB_PORT",
            file=sys.stderr,
        )
        return 2
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    try:
        trainer.open()
        trainer.run(stop=lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    finally:
        trainer.close()
        web.close()
    return 0


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


def _list(args: argparse.Namespace) -> int:
    from streamrec.stream.distribution.log import read_catalog
    from streamrec.stream.distribution.trust import TrustConfig

    s = _settings(args)
    cat = read_catalog(s.kafka, s.models_topic, trust=TrustConfig.from_settings(s))
    k = f"HR@{s.gate_k}"
    print(f"{'version':40} {'status':9} {k + ' cand':>11} {'serving':>8} {'AUC':>7}  reason")
    for v in sorted(cat.versions.values(), key=lambda r: r.created):
        cand = v.gate.get("candidate") or {}
        serv = v.gate.get("serving") or {}
        mark = "*" if v.version == cat.serving else " "
        print(
            f"{mark}{v.version:39} {v.status:9} {_fmt(cand.get(k)):>11} "
            f"{_fmt(serv.get(k)):>8} {_fmt(cand.get('buy_AUC')):>7}  {v.reason[:80]}"
        )
    print("\nhistory:")
    for h in cat.history:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h.at))
        print(f"  {when}  {h.cause:9}  {h.version}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from streamrec.stream.distribution.log import read_catalog
    from streamrec.stream.distribution.topic import DistributionError, ModelPublisher
    from streamrec.stream.distribution.trust import Signer, TrustConfig

    s = _settings(args)
    trust = TrustConfig.from_settings(s)
    cat = read_catalog(s.kafka, s.models_topic, trust=trust)
    try:
        cat.archive(args.version)  # promoted, complete, checksums intact
    except DistributionError as exc:
        print(f"cannot roll back: {exc}", file=sys.stderr)
        return 1
    publisher = ModelPublisher(s.kafka, s.models_topic, signer=Signer(trust.signing_key))
    try:
        publisher.serve(args.version, "rollback")
    finally:
        publisher.close()
    print(f"serving {args.version} (was {cat.serving})", file=sys.stderr)
    return 0


def _publish(args: argparse.Namespace) -> int:
    from streamrec.models.nets.checkpoint import Checkpoint
    from streamrec.stream.trainer.loop import Trainer

    s = _settings(args)
    trainer = Trainer(s)
    trainer.open()
    try:
        version = trainer.bootstrap(Checkpoint.load(args.checkpoint), args.version)
    finally:
        trainer.close()
    print(f"published and serving {version}", file=sys.stderr)
    return 0


def _bench_replay(args: argparse.Namespace) -> int:
    import orjson

    from streamrec.models.training.online_replay import ReplayConfig, plot, replay

    if args.data is not None:
        from streamrec.models.data.loaders import load_events

        events, _report = load_events(args.data, args.format)
        name = args.data.stem
    else:
        from streamrec.models.data.synthetic import generate_events

        events = generate_events(
            n_users=400,
            n_items=400,
            n_events=args.events,
            seed=0,
            drift=args.drift,
            new_item_share=args.new_items,
        )
        name = f"synthetic-{args.events}-drift{args.drift}-new{args.new_items}"
    if args.limit:
        events = events[: args.limit]
    cfg = ReplayConfig(chunk_events=args.chunk, window_events=args.window)
    report = replay(events, cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    png = plot(report, args.out / f"{name}.png", name, cfg.k)
    summary = {
        "name": name,
        "events": len(events),
        "ratio_second_half": report.ratio,
        "hr_on_second_half": report.second_half("hr_on"),
        "hr_off_second_half": report.second_half("hr_off"),
        "promotions": report.promotions,
        "rejections": report.rejections,
        "seconds": report.seconds,
        "chunks": report.chunks,
    }
    (args.out / f"{name}.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(
        f"{name}: HR@10 second half on {summary['hr_on_second_half']:.4f} / off "
        f"{summary['hr_off_second_half']:.4f} = "
        f"{f'{report.ratio:.2f}x' if math.isfinite(report.ratio) else 'n/a (frozen HR is 0)'}; "
        "promotions "
        f"{report.promotions}, rejections {report.rejections}; {report.seconds:.0f} s; {png}"
    )
    return 0
