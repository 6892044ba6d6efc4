"""The scale scenario: workers added and removed under a steady load, watched by a real Prometheus.

One worker serves a steady rate on the 3-broker cluster, then two more join, then one is
removed (SIGTERM). Prometheus scrapes every worker that runs (a file of targets rewritten at
each change). At the end the run is judged twice:

- by the chaos verifier (every event answered once, nothing lost or applied twice, the state
  restored from the changelog equal to the live one), as ``streamrec chaos`` judges its runs;
- through Prometheus's HTTP API: it saw every worker, the summed rate of handled events in each
  phase matches the rate the load sent, and the applied events it counted across all workers
  add up to what was sent (less what a removed worker applied after its last scrape).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streamrec.stream.tools import ports
from streamrec.stream.tools.chaos.bundle import build_bundle
from streamrec.stream.tools.chaos.cluster import Cluster
from streamrec.stream.tools.chaos.config import REPO, ChaosConfig
from streamrec.stream.tools.chaos.fleet import Fleet, python_path_with, worker_env
from streamrec.stream.tools.chaos.load import Load
from streamrec.stream.tools.chaos.prometheus import JOB, PrometheusServer
from streamrec.stream.tools.chaos.run import (
    ChaosError,
    Tally,
    finish,
    teardown,
    wait_ready,
    worker_settings,
)
from streamrec.stream.tools.chaos.verify import Verdict

log = logging.getLogger(__name__)

HANDLED = f'sum(rate(streamrec_events_total{{job="{JOB}",outcome=~"applied|dead_letter"}}[5s]))'
APPLIED_SEEN = 'sum(max_over_time(streamrec_events_total{{job="{job}",outcome="applied"}}[{s}s]))'


@dataclass(frozen=True)
class ScaleConfig:
    """The load and the length of each phase (defaults: the full run; the test runs a short one)."""

    rate: float = 100.0  # events per second, steady through every phase
    phase_s: float = 60.0  # how long each fleet size serves the load once ready
    settle_s: float = 10.0  # left out of each phase's rate (a rebalance's dip and catch-up)
    users: int = 200
    partitions: int = 6
    seed: int = 0
    scrape_interval_s: float = 1.0
    rate_tolerance: float = 0.15  # the phase's median handled rate within this share of offered
    work_dir: Path | None = None
    keep: bool = False

    def chaos(self, work: Path) -> ChaosConfig:
        """The chaos settings the shared pieces (workers, load, verifier) take."""
        return ChaosConfig(
            kills=0,
            bounces=0,
            workers=1,
            rate=self.rate,
            users=self.users,
            seed=self.seed,
            partitions=self.partitions,
            work_dir=work,
            keep=self.keep,
        )


@dataclass
class Phase:
    """One fleet size: when it served and the rate Prometheus saw."""

    workers: int
    start: float  # unix time, once ready
    end: float
    handled_rate: float = 0.0  # median over the phase of the summed per-second rate


@dataclass
class ScaleResult:
    """The verifier's verdict and what Prometheus saw."""

    verdict: Verdict
    phases: list[Phase]
    offered_rate: float
    instances_seen: int
    workers_started: int
    applied_seen: float
    applied_sent: int
    removed_slack: float  # the most a removed worker may have applied after its last scrape
    rate_tolerance: float
    wall_s: float
    work_dir: Path
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The verifier passed and Prometheus agrees with what was sent."""
        return self.verdict.ok and not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        out = asdict(self)
        out["verdict"] = self.verdict.to_dict()
        out["work_dir"] = str(self.work_dir)
        out["ok"] = self.ok
        return out


def judge(result: ScaleResult) -> list[str]:
    """What Prometheus saw that disagrees with the load (empty when all agree)."""
    problems = []
    if result.instances_seen != result.workers_started:
        problems.append(
            f"Prometheus saw {result.instances_seen} workers, {result.workers_started} ran"
        )
    for p in result.phases:
        low, high = (1 - result.rate_tolerance, 1 + result.rate_tolerance)
        if not low * result.offered_rate <= p.handled_rate <= high * result.offered_rate:
            problems.append(
                f"{p.workers} workers: {p.handled_rate:.1f} events/s handled, "
                f"{result.offered_rate:.1f} offered"
            )
    if not result.applied_sent - result.removed_slack <= result.applied_seen <= result.applied_sent:
        problems.append(
            f"Prometheus counted {result.applied_seen:.0f} applied events, "
            f"{result.applied_sent} valid events were sent"
        )
    return problems


def _phase(
    fleet: Fleet, prom: PrometheusServer, config: ChaosConfig, tally: Tally, s: float
) -> Phase:
    prom.set_targets(slot.port for slot in fleet.slots)
    wait_ready(config, fleet, tally)
    start = time.time()
    time.sleep(s)
    return Phase(len(fleet.slots), start, time.time())


def run_scale(config: ScaleConfig) -> ScaleResult:
    """Run the scenario and judge it; every process it started is stopped on return."""
    t0 = time.monotonic()
    work = config.work_dir or Path(tempfile.mkdtemp(prefix="streamrec-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    chaos = config.chaos(work)
    cluster = Cluster(chaos.kafka_sh, work / "kafka", ports.free_ports(ports.CLUSTER_OFFSETS))
    prom = PrometheusServer(work / "prometheus", config.scrape_interval_s)
    fleet: Fleet | None = None
    load: Load | None = None
    keep = config.keep
    try:
        bundle = build_bundle(work / "bundle", seed=config.seed)
        prom.start()
        cluster.start()
        app = f"scale-{uuid.uuid4().hex[:8]}"
        settings = worker_settings(chaos, cluster.bootstrap, app, bundle)
        env = worker_env(os.environ, settings)
        env["PYTHONPATH"] = python_path_with(REPO, os.environ)
        fleet = Fleet(work, REPO, env)
        tally = Tally()
        fleet.add()
        prom.set_targets(slot.port for slot in fleet.slots)
        wait_ready(chaos, fleet, tally)
        load = Load(
            cluster.bootstrap,
            settings["events_topic"],
            config.rate,
            config.users,
            chaos.poison_every,
            config.seed,
        )
        load.start()
        phases = [_phase(fleet, prom, chaos, tally, config.phase_s)]
        log.info("scale: 1 worker served %.0f s; adding two", config.phase_s)
        fleet.add()
        fleet.add()
        tally.added += 2
        phases.append(_phase(fleet, prom, chaos, tally, config.phase_s))
        log.info("scale: 3 workers served %.0f s; removing one", config.phase_s)
        fleet.remove(fleet.slots[0])
        tally.removed += 1
        phases.append(_phase(fleet, prom, chaos, tally, config.phase_s))
        counts = load.stop()
        load = None
        log.info("scale: load stopped: %s", counts)
        seen: dict[str, float] = {}

        def observe() -> None:  # every input committed, workers still up: read Prometheus
            time.sleep(3 * config.scrape_interval_s)
            span = int(time.time() - phases[0].start + 120)
            seen["applied"] = sum(s.value for s in prom.query(APPLIED_SEEN.format(job=JOB, s=span)))
            up = f'count by (instance) (count_over_time(up{{job="{JOB}"}}[{span}s]))'
            seen["instances"] = len(prom.query(up))
            for p in phases:
                series = prom.query_range(HANDLED, p.start + config.settle_s, p.end, 1.0)
                values = [v for s in series for _, v in s.values]
                p.handled_rate = statistics.median(values) if values else 0.0

        verdict = finish(chaos, cluster, fleet, settings, tally, observe=observe)
        result = ScaleResult(
            verdict=verdict,
            phases=phases,
            offered_rate=config.rate,
            instances_seen=int(seen["instances"]),
            workers_started=3,
            applied_seen=seen["applied"],
            applied_sent=verdict.events_sent,
            removed_slack=3 * config.scrape_interval_s * config.rate,
            rate_tolerance=config.rate_tolerance,
            wall_s=time.monotonic() - t0,
            work_dir=work,
        )
        result.problems = judge(result)
        keep = keep or not result.ok
        return result
    except Exception as exc:
        keep = True
        log.exception("scale: the run failed; logs kept in %s", work)
        if isinstance(exc, ChaosError):
            raise
        raise ChaosError(f"the scale run failed: {exc!r}") from exc
    finally:
        teardown(load, fleet, cluster)
        prom.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def format_result(result: ScaleResult) -> str:
    """The table for people."""
    lines = [
        f"{'phase':<12} {'offered ev/s':>13} {'handled ev/s (Prometheus)':>26}",
        *(
            f"{p.workers} workers{'':<3} {result.offered_rate:>13.1f} {p.handled_rate:>26.1f}"
            for p in result.phases
        ),
        f"workers Prometheus saw: {result.instances_seen} of {result.workers_started}",
        f"applied events: {result.applied_seen:.0f} counted by Prometheus, "
        f"{result.applied_sent} valid events sent",
        f"verifier: lost {result.verdict.lost}, applied twice {result.verdict.double_applied}, "
        f"unanswered {result.verdict.unanswered}, restore mismatches "
        f"{result.verdict.restore_mismatches}",
        *(f"PROBLEM: {p}" for p in [*result.problems, *result.verdict.problems]),
        f"{'PASS' if result.ok else 'FAIL'} in {result.wall_s:.0f} s",
    ]
    return "\n".join(lines)
