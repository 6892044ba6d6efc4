"""One chaos run: cluster, fleet, load, faults, settle, fresh restore, verdict.

The restore check compares a fresh worker's stores, restored from the changelog alone onto
an empty directory, byte for byte with the live copies (per partition the copy with the
highest persisted changelog offset, see :mod:`.stores`), and its decoded states with the
final states the live workers answered over HTTP (event count, model version, buy
probability, number of items). A user counts once however many of these differ.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamrec.stream.serving.state import StateDecodeError, decode_state
from streamrec.stream.tools import ports
from streamrec.stream.tools.chaos import collect, stores
from streamrec.stream.tools.chaos.bundle import build_bundle
from streamrec.stream.tools.chaos.cluster import NODES, Cluster
from streamrec.stream.tools.chaos.config import REPO, ChaosConfig
from streamrec.stream.tools.chaos.faults import Fault, plan
from streamrec.stream.tools.chaos.fleet import Fleet, python_path_with, worker_env
from streamrec.stream.tools.chaos.load import Load
from streamrec.stream.tools.chaos.verify import Faults, Verdict, classify

log = logging.getLogger(__name__)

TABLE = "user-state"


class ChaosError(RuntimeError):
    """Raised when the harness itself cannot run (cluster, workers, timeouts)."""


@dataclass
class Result:
    """A run's verdict, wall time and where its logs are (gone unless kept)."""

    verdict: Verdict
    wall_s: float
    work_dir: Path
    kept: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **self.verdict.to_dict(),
            "wall_s": round(self.wall_s, 1),
            "work_dir": str(self.work_dir) if self.kept else None,
        }


@dataclass
class Tally:
    """What a run did to the fleet and the cluster (the verdict's fault counts)."""

    kills: int = 0
    fresh: int = 0
    bounces: int = 0
    added: int = 0
    removed: int = 0
    unexpected: int = 0


def worker_settings(config: ChaosConfig, bootstrap: str, app: str, bundle: Path) -> dict[str, Any]:
    """The ``STREAMREC_*`` settings of a run's workers (one app id, replicated topics)."""
    return {
        "bootstrap": bootstrap,
        "app_id": app,
        "events_topic": f"{app}-events",
        "recommendations_topic": f"{app}-recs",
        "dead_letter_topic": f"{app}-dead",
        "items_topic": f"{app}-items",
        "partitions": config.partitions,
        "replication": 3,
        "standby_replicas": config.standby_replicas,
        "session_timeout_s": config.session_timeout_s,
        "commit_interval_s": config.commit_interval_s,
        "bundle": bundle,
        "log_level": config.worker_log_level,
        "onnx_provider": "cpu",
    }


def run_chaos(config: ChaosConfig) -> Result:
    """Run the whole scenario and judge it; every process it started is stopped on return."""
    t0 = time.monotonic()
    work = config.work_dir or Path(tempfile.mkdtemp(prefix="streamrec-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(config.seed)
    cluster = Cluster(config.kafka_sh, work / "kafka", ports.free_ports(ports.CLUSTER_OFFSETS))
    load: Load | None = None
    fleet: Fleet | None = None
    try:
        log.info("chaos: work dir %s; exporting the tiny bundle", work)
        bundle = build_bundle(work / "bundle", seed=config.seed)
        cluster.start()
        app = f"chaos-{uuid.uuid4().hex[:8]}"
        settings = worker_settings(config, cluster.bootstrap, app, bundle)
        env = worker_env(os.environ, settings)
        env["PYTHONPATH"] = python_path_with(REPO, os.environ)
        fleet = Fleet(work, REPO, env)
        for _ in range(config.workers):
            fleet.add()
        waited = fleet.wait_ready(config.ready_timeout_s)
        log.info("chaos: %d workers ready in %.0f s", config.workers, waited)
        load = Load(
            cluster.bootstrap,
            settings["events_topic"],
            config.rate,
            config.users,
            config.poison_every,
            config.seed,
        )
        load.start()
        tally = _inject(config, rng, cluster, fleet)
        counts = load.stop()
        load = None
        log.info("chaos: load stopped: %s", counts)
        verdict = finish(config, cluster, fleet, settings, tally)
    except ChaosError:
        config_keep = True
        log.error("chaos: the run failed; logs kept in %s", work)
        raise
    except Exception as exc:  # a harness bug or an unreachable cluster: exit 2, not FAIL
        config_keep = True
        log.exception("chaos: the harness failed; logs kept in %s", work)
        raise ChaosError(f"the harness failed: {exc!r}") from exc
    else:
        config_keep = config.keep
    finally:
        teardown(load, fleet, cluster)
        if not config_keep:
            shutil.rmtree(work, ignore_errors=True)
    return Result(verdict, time.monotonic() - t0, work, config_keep)


def teardown(load: Load | None, fleet: Fleet | None, cluster: Cluster) -> None:
    """Stop what a run started: the load (if still on), every worker, the cluster."""
    if load is not None:
        try:
            load.stop()
        except RuntimeError as exc:
            log.error("chaos: %s", exc)
    if fleet is not None:
        fleet.kill_all()
    cluster.stop()


def _restart_exited(fleet: Fleet, tally: Tally) -> None:
    for slot in fleet.exited():
        code = slot.proc.returncode if slot.proc is not None else None
        log.warning("chaos: %s exited by itself (status %s); restarting it", slot.name, code)
        tally.unexpected += 1
        fleet.start(slot)


def _inject(config: ChaosConfig, rng: random.Random, cluster: Cluster, fleet: Fleet) -> Tally:
    tally = Tally()
    faults = plan(config.kills, config.bounces, rng)
    for n, fault in enumerate(faults, 1):
        time.sleep(config.fault_interval_s)
        _restart_exited(fleet, tally)
        if fault is Fault.KILL:
            slot = rng.choice(fleet.slots)
            fresh = rng.randrange(config.fresh_dir_every) == 0
            fleet.kill(slot)
            fleet.start(slot, fresh_dir=fresh)
            tally.kills += 1
            tally.fresh += fresh
            what = f"kill -9 {slot.name}, restarted on {'a fresh' if fresh else 'its'} dir"
        elif fault is Fault.BOUNCE:
            node = rng.choice(NODES)
            cluster.node_stop(node)
            time.sleep(config.bounce_down_s)
            cluster.node_start(node)
            tally.bounces += 1
            what = f"bounced broker {node}"
        elif fault is Fault.ADD:
            what = f"added {fleet.add().name}"
            tally.added += 1
        else:
            slot = rng.choice(fleet.slots)
            code = fleet.remove(slot)
            tally.removed += 1
            what = f"removed {slot.name} (SIGTERM, exit {code})"
        waited = wait_ready(config, fleet, tally)
        log.info("chaos: fault %d/%d: %s; ready again in %.0f s", n, len(faults), what, waited)
    return tally


def wait_ready(config: ChaosConfig, fleet: Fleet, tally: Tally) -> float:
    """Wait for the fleet, restarting workers that exit by themselves meanwhile."""
    t0 = time.monotonic()
    while True:
        try:
            return fleet.wait_ready(config.ready_timeout_s - (time.monotonic() - t0))
        except Exception as exc:
            if not fleet.exited() or time.monotonic() - t0 > config.ready_timeout_s:
                raise ChaosError(str(exc)) from exc
            _restart_exited(fleet, tally)


def _settle(config: ChaosConfig, fleet: Fleet, settings: dict[str, Any], tally: Tally) -> None:
    topics = [settings["events_topic"], f"{settings['app_id']}-events-by-user"]
    t0 = time.monotonic()
    while True:
        wait_ready(config, fleet, tally)
        left = collect.uncommitted(settings["bootstrap"], settings["app_id"], topics)
        if left == 0:
            log.info("chaos: every input committed (%.0f s)", time.monotonic() - t0)
            return
        if time.monotonic() - t0 > config.settle_timeout_s:
            raise ChaosError(f"{left} inputs still uncommitted after {config.settle_timeout_s} s")
        time.sleep(1.0)


def finish(
    config: ChaosConfig,
    cluster: Cluster,
    fleet: Fleet,
    settings: dict[str, Any],
    tally: Tally,
    observe: Callable[[], None] | None = None,
) -> Verdict:
    """Settle, verify and restore-check a run.

    ``observe`` runs once every input is committed, with the workers still up (the scale
    scenario reads Prometheus there).
    """
    bootstrap, app = settings["bootstrap"], settings["app_id"]
    _settle(config, fleet, settings, tally)
    if observe is not None:
        observe()
    sent = collect.sent_records(collect.read_topic(bootstrap, settings["events_topic"]))
    users = sorted({r.user for r in sent if r.poison_reason is None})
    final = collect.final_states(fleet.slots[0].port, users)
    rebalances = collect.count_rebalances(fleet.logs(), app)
    codes = fleet.stop_all()
    log.info("chaos: live workers stopped: %s", codes)
    live_dirs = fleet.all_dirs()
    fleet.slots.clear()

    restorer = fleet.add()
    log.info("chaos: fresh worker restoring every partition onto %s", restorer.data_dir)
    fleet.wait_ready(config.ready_timeout_s)
    fleet.remove(restorer)
    restored = stores.union(stores.read_copies(restorer.data_dir, TABLE))
    reference = stores.union(stores.latest_copies(live_dirs, TABLE))
    bad = set(stores.mismatches(restored, reference))
    bad |= _field_mismatches(restored, final)

    final_counts = {u: int(s["event_count"]) for u, s in final.items()}
    answers = collect.answers(
        collect.read_topic(bootstrap, settings["recommendations_topic"]), settings["events_topic"]
    )
    letters = collect.letters(collect.read_topic(bootstrap, settings["dead_letter_topic"]))
    faults = Faults(
        kills=tally.kills,
        fresh_dir_restarts=tally.fresh,
        bounces=tally.bounces,
        added=tally.added,
        removed=tally.removed,
        rebalances=rebalances,
        unexpected_exits=tally.unexpected,
    )
    verdict = classify(sent, answers, letters, final_counts, len(bad), faults)
    for key in sorted(bad)[:5]:
        verdict.problems.append(f"restore mismatch: {key!r}")
    return verdict


def _field_mismatches(restored: dict[bytes, bytes], final: dict[str, dict[str, Any]]) -> set[bytes]:
    bad: set[bytes] = set()
    for user, answer in final.items():
        key = user.encode()
        raw = restored.get(key)
        if raw is None:
            bad.add(key)
            continue
        try:
            st = decode_state(raw)
        except StateDecodeError:
            bad.add(key)
            continue
        if (
            st.event_count != answer["event_count"]
            or st.model_version != answer["model_version"]
            or abs(st.buy_prob - float(answer["buy_probability"])) > 1e-6
            or len(st.top_items) != len(answer["items"])
        ):
            bad.add(key)
    return bad
