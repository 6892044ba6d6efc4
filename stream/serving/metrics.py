"""Prometheus metrics of one worker, in their own registry (no global state)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class BatchHistogram(Collector):
    """A histogram fed a whole batch of observations at once (one numpy pass, not one call each).

    The per-event end-to-end latency is observed for every recommendation; prometheus_client's
    ``Histogram.observe`` costs about a microsecond per call under a lock. The exposition is a
    plain Prometheus histogram (``_bucket``, ``_count``, ``_sum``).
    """

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(buckets, dtype=np.float64)
        self.counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # the last one is +Inf
        self.total = 0.0
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        """Add every value of ``values`` (seconds)."""
        if not len(values):
            return
        slots = np.searchsorted(self.bounds, values, side="left")  # value <= bound: that bucket
        self.counts += np.bincount(slots, minlength=len(self.counts))
        self.total += float(values.sum())

    _labelnames: tuple[str, ...] = ()  # as prometheus_client's metrics keep them (no labels)

    def describe(self) -> list[HistogramMetricFamily]:
        """The family without samples (what registries and the metrics reference read)."""
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """One histogram family, cumulative buckets."""
        cumulative = np.cumsum(self.counts).tolist()
        labels = (floatToGoString(b) for b in self.bounds.tolist())  # type: ignore[no-untyped-call]
        bounds = [*labels, "+Inf"]
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], list(zip(bounds, cumulative, strict=True)), self.total)
        yield family


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
        self.e2e_seconds = BatchHistogram(
            "streamrec_end_to_end_seconds",
            "Input message timestamp to recommendation sent.",
            LATENCY_BUCKETS,
            r,
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
