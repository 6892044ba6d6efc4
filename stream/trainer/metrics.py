"""What a trainer shows of itself: Prometheus metrics and a status snapshot.

Both are written by its loop and read by its HTTP thread (lease, window, rounds and their
outcome, liveness).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ROUND_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600)


@dataclass
class TrainerStatus:
    """The loop's state as ``/health`` and ``/ready`` report it."""

    ready: bool = False  # topics opened and the models topic read
    active: bool = False  # holds the lease
    serving: str | None = None
    rounds: int = 0
    loop_seen: float = 0.0  # Unix time the loop last went round (0: not yet)


class TrainerMetrics:
    """One trainer's registry (served on its ``/metrics``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.active = Gauge(
            "streamrec_trainer_active",
            "1 while this trainer holds the lease (trains), 0 while it stands by.",
            registry=r,
        )
        self.window_events = Gauge(
            "streamrec_trainer_window_events",
            "Events in the replay window the next round trains on.",
            registry=r,
        )
        self.events = Counter(
            "streamrec_trainer_events",
            "Events read from the events topic into the window.",
            registry=r,
        )
        self.rounds = Counter(
            "streamrec_trainer_rounds",
            "Fine-tuning rounds by outcome (promoted, rejected).",
            ["outcome"],
            registry=r,
        )
        self.round_seconds = Histogram(
            "streamrec_trainer_round_seconds",
            "Whole round: fine-tune, gate, export, verify, publish.",
            buckets=ROUND_BUCKETS,
            registry=r,
        )
        self.last_promotion = Gauge(
            "streamrec_trainer_last_promotion_timestamp_seconds",
            "Unix time of the last version this trainer promoted (0: none yet).",
            registry=r,
        )
        self.loop_seen = Gauge(
            "streamrec_trainer_loop_timestamp_seconds",
            "Unix time the trainer's loop last went round (its /health reads it).",
            registry=r,
        )

    def beat(self, status: TrainerStatus, active: bool, serving: str | None) -> None:
        """One turn of the loop: liveness, the lease, the serving version."""
        now = time.time()
        status.loop_seen, status.active, status.serving = now, active, serving
        self.loop_seen.set(now)
        self.active.set(1 if active else 0)

    def round_done(self, promoted: bool, seconds: float) -> None:
        """Count a finished round."""
        self.rounds.labels("promoted" if promoted else "rejected").inc()
        self.round_seconds.observe(seconds)
        if promoted:
            self.last_promotion.set(time.time())
