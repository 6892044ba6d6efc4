"""Faust's own Prometheus sensors, registered in the worker's registry beside streamrec's.

Faust reports what it does through its sensor API; its ``PrometheusMonitor`` turns those calls
into ``faust_*`` metrics: messages taken in and acknowledged (the batch path calls the same
hooks per message: ``track_message`` on delivery, ``on_message_out`` on ack), offsets read,
committed and at the end of each partition, commit latency, sends and send errors of Faust's
producer, rebalances and assignments, table operations through Faust's table API and web
requests. ``setup_prometheus_sensors`` would add a second ``/metrics`` page; the worker serves
one registry on its own page instead, so only the monitor is taken from Faust.

Faust's monitor updates four families on every message (five locked updates, two label
lookups: 10 to 14 µs per message here, against about 1 µs for Faust's default monitor, and
a worker's whole budget is near 130 µs per event). :class:`FaustSensors` reads those four at
scrape time from the counters the base ``Monitor`` keeps anyway, so per message it costs what
the default monitor costs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from faust.sensors import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "faust"  # the metrics' name prefix (Faust's default would be the app id)


class FaustSensors(PrometheusMonitor):  # type: ignore[misc]
    """Faust's Prometheus monitor without per-message metric updates (read at scrape time).

    Per message it does what Faust's default monitor does: the base class's methods, bound
    directly (no extra call per message).
    """

    on_message_in = Monitor.on_message_in
    on_message_out = Monitor.on_message_out


class _MessageFamilies(Collector):
    """The per-message families, from the base monitor's counters, under Faust's names."""

    def __init__(self, monitor: Monitor, metrics: FaustMetrics) -> None:
        self.monitor = monitor
        families = [f for m in metrics for f in m.describe()]
        self.help = {f.name: f.documentation for f in families}

    def collect(self) -> Iterator[Metric]:
        m = self.monitor
        name = f"{PREFIX}_messages_received"
        yield CounterMetricFamily(name, self.help[name], value=m.messages_received_total)
        name = f"{PREFIX}_active_messages"
        yield GaugeMetricFamily(name, self.help[name], value=m.messages_active)
        name = f"{PREFIX}_messages_received_per_topic"
        by_topic = CounterMetricFamily(name, self.help[name], labels=["topic"])
        for topic, n in sorted(m.messages_received_by_topic.items()):
            by_topic.add_metric([topic], n)
        yield by_topic
        name = f"{PREFIX}_messages_received_per_topics_partition"
        read = GaugeMetricFamily(name, self.help[name], labels=["topic", "partition"])
        for tp, offset in sorted(m.tp_read_offsets.items()):
            read.add_metric([tp.topic, str(tp.partition)], offset)
        yield read


@dataclass(frozen=True)
class Sensors:
    """The monitor to give the app, and every Faust metric object (for the metrics reference)."""

    monitor: FaustSensors
    metrics: FaustMetrics

    def objects(self) -> list[Any]:
        """Every metric object of Faust's (registered or read at scrape time)."""
        return list(self.metrics)


def faust_sensors(registry: CollectorRegistry) -> Sensors:
    """Faust's metrics in ``registry``, the per-message four read from the monitor at scrape."""
    metrics = FaustMetrics.create(registry, PREFIX)
    per_message = (
        metrics.messages_received,
        metrics.active_messages,
        metrics.messages_received_per_topics,
        metrics.messages_received_per_topics_partition,
    )
    for metric in per_message:
        registry.unregister(metric)
    monitor = FaustSensors(metrics=metrics)
    registry.register(_MessageFamilies(monitor, metrics))
    return Sensors(monitor, metrics)
