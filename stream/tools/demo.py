"""`streamrec demo`: generated shop events -> trained model -> bundle -> worker -> live output.

Runs the real commands one after another (`streamrec generate`-style simulation, `streamrec
train`, `streamrec export`, `streamrec worker`, publishing), against the broker named by
``STREAMREC_BOOTSTRAP`` (``make demo`` starts a local one). Each run uses fresh topic names,
so earlier runs never leak into it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from streamrec.stream.config.settings import Settings, load_settings
from streamrec.stream.tools.clients import worker_metric
from streamrec.stream.tools.demo_items import NewItemWatch, new_item_like


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamrec.stream.cli", *args]


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def prepare(work: Path, events: int) -> tuple[Path, Path, Path]:
    """Simulated events split in time (80% train, the rest live) and the titled catalog."""
    from streamrec.models.data.synthetic import SyntheticConfig, simulate
    from streamrec.models.data.writers import write_events
    from streamrec.stream.tools.demo_items import write_demo_catalog

    synth = SyntheticConfig(n_users=1500, n_items=800, n_events=events, seed=7)
    stream = simulate(synth)
    cut = int(len(stream) * 0.8)
    train, live, catalog = work / "train.csv", work / "live.csv", work / "catalog.csv"
    write_events(stream[:cut], train)
    write_events(stream[cut:], live)
    write_demo_catalog(synth, catalog)
    by_user: dict[str, list[str]] = {}
    for e in stream[:cut]:
        by_user.setdefault(e.user_id, []).append(e.item_id)
    lines = (" ".join([u, *items]) + "\n" for u, items in by_user.items())
    (work / "train.seq").write_text("".join(lines))  # real inputs for export verification
    print(f"{cut} training events, {len(stream) - cut} live events, catalog in {work}")
    return train, live, catalog


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    """The whole demo; returns the exit status."""
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    run = f"demo-{int(time.time())}"
    env = dict(os.environ)
    env.update(
        STREAMREC_BOOTSTRAP=settings.bootstrap,
        STREAMREC_APP_ID=run,
        STREAMREC_EVENTS_TOPIC=f"{run}-events",
        STREAMREC_RECOMMENDATIONS_TOPIC=f"{run}-recommendations",
        STREAMREC_DEAD_LETTER_TOPIC=f"{run}-dead-letters",
        STREAMREC_ITEMS_TOPIC=f"{run}-items",
        STREAMREC_DATA_DIR=str(work / "state"),
        STREAMREC_WEB_PORT=str(args.web_port),
    )

    _step("1/5 generate events (popularity skew, drifting interests, funnels, new items)")
    train, live, catalog = prepare(work, args.events)
    bundle = args.bundle
    if bundle is None:
        _step("2/5 train a small GRU with item titles (streamrec train --catalog)")
        ckpt = work / "model.pt"
        subprocess.run(
            _cli("train", "--data", str(train), "--format", "csv", "--out", str(ckpt),
                 "--catalog", str(catalog), "--fusion", "sum", "--text-loss", "2",
                 "--embed-dim", "32", "--hidden-dim", "64", "--epochs", "20", "--threads", "1",
                 "--time-budget", str(args.time_budget), "--no-progress"),
            check=True, env=env,
        )  # fmt: skip
        _step("3/5 export and verify the ONNX step (streamrec export)")
        bundle = work / "bundle"
        real = ["--real-data", str(work / "train.seq"), "--real-n", "2000"]
        export = ["export", str(ckpt), str(bundle), "--k", "10", "--overwrite", "--no-encode"]
        subprocess.run(_cli(*export, *real), check=True, env=env)
    else:
        _step("2-3/5 using the given bundle")
    env["STREAMREC_BUNDLE"] = str(bundle)
    env["STREAMREC_ITEM_TEXT_DIR"] = str(_text_encoder())
    subprocess.run(_cli("items", "publish", str(catalog)), check=True, env=env)

    _step("4/5 start a worker (streamrec worker)")
    log = (work / "worker.log").open("wb")
    worker = subprocess.Popen(_cli("worker"), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while _get(args.web_port, "/ready")[0] != 200:
            if worker.poll() is not None or time.monotonic() > deadline:
                print(f"worker did not start; see {work / 'worker.log'}", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(f"worker ready: http://127.0.0.1:{args.web_port}/metrics")
        _step(f"5/5 publish the live stream at {args.rate:.0f} events/s; recommendations live")
        return _live(env, live, args, worker, NewItemWatch(new_item_like(catalog, live)))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        log.close()
        print(f"\nworker stopped (exit {worker.returncode}); state in {work / 'state'}")


def _text_encoder() -> Path:
    from streamrec.models.text.encoder_export import ensure_text_encoder
    from streamrec.stream.config.cache import load_cache_settings

    return ensure_text_encoder(load_cache_settings().text_encoder_dir)


def _live(
    env: dict[str, str], live: Path, args: argparse.Namespace, worker: Any, new: NewItemWatch
) -> int:
    publisher = subprocess.Popen(
        _cli("publish", str(live), "--rate", str(args.rate)),
        env=env,
        stderr=subprocess.DEVNULL,
    )
    watcher = threading.Thread(target=_show_recommendations, args=(env, new), daemon=True)
    watcher.start()
    total = sum(1 for _ in live.open()) - 1
    last, t_last = 0.0, time.perf_counter()
    while True:
        time.sleep(2.0)
        done = worker_metric(args.web_port, "streamrec_recommendations_total")
        if new.announced is None and done >= total / 4:
            new.announce(env)
            print(f"   announced a brand-new item on the items topic: {new.item.text()}")
        now = time.perf_counter()
        mean = worker_metric(args.web_port, "streamrec_end_to_end_seconds_sum") / max(
            1.0, worker_metric(args.web_port, "streamrec_end_to_end_seconds_count")
        )
        print(
            f"   [{done:7.0f}/{total}] {(done - last) / (now - t_last):7.0f} events/s, "
            f"mean end-to-end {mean * 1000:.1f} ms",
            flush=True,
        )
        last, t_last = done, now
        if publisher.poll() is not None and done >= total:
            break
        if worker.poll() is not None:
            print("worker exited early", file=sys.stderr)
            return 1
    user = _busiest_user(live)
    status, body = _get(args.web_port, f"/users/{user}/recommendations")
    if status == 200:
        rec = orjson.loads(body)
        items = ", ".join(i["item_id"] for i in rec["items"])
        print(
            f"\nGET /users/{user}/recommendations -> {rec['event_count']} events, "
            f"buy probability {rec['buy_probability']:.2f}, items: {items}"
        )
    print(new.report())
    dead = worker_metric(args.web_port, "streamrec_dead_letters_total")
    print(f"done: {total} events in, {done:.0f} recommendations out, {dead:.0f} dead letters")
    return 0


def _busiest_user(live: Path) -> str:
    counts: dict[str, int] = {}
    with live.open() as fh:
        next(fh)
        for line in fh:
            u = line.split(",", 1)[0]
            counts[u] = counts.get(u, 0) + 1
    return max(counts, key=lambda u: counts[u])


def _show_recommendations(env: dict[str, str], new: NewItemWatch) -> None:
    from streamrec.stream.tools.clients import follow, format_recommendation

    settings = load_settings(bootstrap=env["STREAMREC_BOOTSTRAP"], app_id=env["STREAMREC_APP_ID"])
    for n, rec in enumerate(follow(settings, env["STREAMREC_RECOMMENDATIONS_TOPIC"])):
        new.check(rec)
        if n % 2000 == 0:
            print("   " + format_recommendation(rec)[:150], flush=True)


def run_demo_cli(args: argparse.Namespace) -> int:
    """Entry point of `streamrec demo`."""
    import logging

    logging.getLogger("kafka").setLevel(logging.WARNING)  # client chatter hides the demo
    return run_demo(load_settings(), args)
