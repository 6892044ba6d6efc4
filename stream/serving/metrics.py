"""Prometheus metrics of one worker, in their own registry (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class Metrics:
    """The worker's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "streamrec_events",
            "Input messages by outcome (applied, replayed, dead_letter, repartitioned).",
            ["outcome"],
            registry=r,
        )
        self.recommendations = Counter(
            "streamrec_recommendations", "Recommendations sent.", registry=r
        )
        self.dead_letters = Counter(
            "streamrec_dead_letters", "Dead letters by reason.", ["reason"], registry=r
        )
        self.batch_size = Histogram(
            "streamrec_batch_size", "Events per micro-batch.", buckets=BATCH_BUCKETS, registry=r
        )
        self.step_seconds = Histogram(
            "streamrec_step_seconds",
            "Pure step time per micro-batch (model calls included).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "streamrec_batch_seconds",
            "Whole micro-batch handling (parse, state, step, send).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.e2e_seconds = Histogram(
            "streamrec_end_to_end_seconds",
            "Input message timestamp to recommendation sent.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "streamrec_consumer_lag",
            "Messages between the committed offset and the broker's end offset, per assigned "
            "partition of the events and repartition topics (refreshed on a timer).",
            ["topic", "partition"],
            registry=r,
        )
        self.model = Gauge(
            "streamrec_model_info", "Serving model version (value 1).", ["version"], registry=r
        )
        self.states_reset = Counter(
            "streamrec_states_reset",
            "Stored user states written by a model whose vocabulary this worker does not know: "
            "their item rows were dropped instead of being mis-mapped.",
            registry=r,
        )
        self.users = Gauge(
            "streamrec_state_bytes_last", "Size of the last written user state.", registry=r
        )
        self.internal_errors = Counter(
            "streamrec_internal_errors",
            "Messages the worker failed on (a bug, dead-lettered as internal_error), by stage.",
            ["stage"],
            registry=r,
        )
        self.expired = Counter(
            "streamrec_states_expired",
            "User states deleted after state_ttl_s without a write (tombstoned).",
            registry=r,
        )
        self.send_failures = Counter(
            "streamrec_send_failures",
            "Produce requests that failed after their retries, by output (fatal for the worker).",
            ["output"],
            registry=r,
        )

    def exposition(self) -> bytes:
        """Prometheus text format."""
        return generate_latest(self.registry)
