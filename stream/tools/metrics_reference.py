"""The worker's Prometheus metrics as rows, read from the registry it serves on ``/metrics``.

``docs/metrics.md`` holds hand-written prose around one generated block that
``python -m streamrec.stream.tools.metrics_reference`` (``make metrics-doc``) rewrites from these
rows; a unit test fails when the page and the registry disagree. Names, types and help come from
``registry.collect()``; each metric belongs to one area of :data:`AREAS`, which also carries the
alert hints, so a new metric cannot reach the worker without a place on the page.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from streamrec.stream.distribution.swap import SwapMetrics
from streamrec.stream.serving.metrics import BatchHistogram, Metrics
from streamrec.stream.trainer.metrics import TrainerMetrics
from streamrec.stream.worker.sensors import faust_sensors

DOC_PATH = Path("docs") / "metrics.md"
BEGIN = "<!-- generated: make metrics-doc -->"
END = "<!-- end generated -->"

# prometheus_client's metric objects, and the worker's batch-fed histogram
MetricObject = (MetricWrapperBase, BatchHistogram)
Metric = MetricWrapperBase | BatchHistogram


class MetricsReferenceError(ValueError):
    """The registry and the reference disagree (a metric with no area, an area with no metric)."""


@dataclass(frozen=True)
class Area:
    """One table of the page: a title, a sentence, its metrics and their alert hints."""

    title: str
    about: str
    metrics: tuple[str, ...]  # family names, in the order of the table
    alerts: tuple[tuple[str, str], ...] = ()  # (family name, what to alert on)


AREAS: tuple[Area, ...] = (
    Area(
        "Throughput",
        "What came in and what went out.",
        ("streamrec_events", "streamrec_recommendations", "streamrec_dead_letters"),
        (
            ("streamrec_events", "`applied` rate at 0 while producers send"),
            ("streamrec_dead_letters", "a rising rate of one `reason` (a producer sends bad data)"),
        ),
    ),
    Area(
        "Latency and lag",
        "Micro-batches, their timing, and how far the consumer is behind.",
        (
            "streamrec_batch_size",
            "streamrec_step_seconds",
            "streamrec_batch_seconds",
            "streamrec_end_to_end_seconds",
            "streamrec_consumer_lag",
        ),
        (
            ("streamrec_end_to_end_seconds", "p99 above your latency target"),
            ("streamrec_consumer_lag", "growing for several minutes on any partition"),
        ),
    ),
    Area(
        "User state",
        "The per-user recurrent state in the table.",
        ("streamrec_state_bytes_last", "streamrec_states_expired", "streamrec_states_reset"),
    ),
    Area(
        "Failures",
        "Errors the worker counts; each also shows in `/health` or a dead letter.",
        ("streamrec_internal_errors", "streamrec_send_failures"),
        (
            ("streamrec_internal_errors", "any increase (a bug: the message was dead-lettered)"),
            ("streamrec_send_failures", "any increase (the worker exits and must be restarted)"),
        ),
    ),
    Area(
        "Model",
        "The serving model. All but `streamrec_model_info` exist only on a worker that follows a "
        "models topic (`STREAMREC_MODELS_TOPIC` set).",
        (
            "streamrec_model_info",
            "streamrec_model_swaps",
            "streamrec_model_refused",
            "streamrec_models_records_refused",
            "streamrec_model_promotion_latency_seconds",
            "streamrec_model_serving_since_seconds",
        ),
        (
            ("streamrec_model_info", "more than one `version` across workers for long"),
            ("streamrec_model_refused", "any increase (a promoted version did not load)"),
            (
                "streamrec_models_records_refused",
                "reason `unsigned` or `bad-signature` (a publisher without the key)",
            ),
        ),
    ),
    Area(
        "Faust",
        "Faust's own sensors (`STREAMREC_FAUST_METRICS`, on by default), named as Faust names "
        "them. The agents take whole batches rather than Faust stream events, so the stream "
        "event families (`faust_total_events`, `faust_total_active_events`, "
        "`faust_total_events_per_stream`, `faust_events_runtime_ms`) stay at 0, and user states "
        "written straight to the store are not table operations; `faust_messages_received` and "
        "`faust_active_messages` count every record the agents take in and acknowledge.",
        (
            "faust_messages_received",
            "faust_active_messages",
            "faust_messages_received_per_topic",
            "faust_messages_received_per_topics_partition",
            "faust_topic_partition_offset_commited",
            "faust_topic_partition_end_offset",
            "faust_consumer_commit_latency",
            "faust_topic_messages_sent",
            "faust_total_sent_messages",
            "faust_producer_send_latency",
            "faust_total_error_messages_sent",
            "faust_producer_error_send_latency",
            "faust_total_rebalances",
            "faust_total_rebalances_recovering",
            "faust_rebalance_done_consumer_latency",
            "faust_rebalance_done_latency",
            "faust_assignment_operations",
            "faust_assign_latency",
            "faust_table_operations",
            "faust_http_status_codes",
            "faust_http_latency",
            "faust_metrics_by_name",
            "faust_total_events",
            "faust_total_active_events",
            "faust_total_events_per_stream",
            "faust_events_runtime_ms",
        ),
        (
            ("faust_active_messages", "growing for minutes (records taken in, never acknowledged)"),
            ("faust_total_rebalances", "above 0 for minutes (the group keeps rebalancing)"),
            ("faust_total_error_messages_sent", "any increase"),
        ),
    ),
    Area(
        "Trainer",
        "Served by the online trainer on its own `/metrics` (its `STREAMREC_WEB_PORT`, default "
        "6067), beside `/health` and `/ready`.",
        (
            "streamrec_trainer_active",
            "streamrec_trainer_window_events",
            "streamrec_trainer_events",
            "streamrec_trainer_rounds",
            "streamrec_trainer_round_seconds",
            "streamrec_trainer_last_promotion_timestamp_seconds",
            "streamrec_trainer_loop_timestamp_seconds",
        ),
        (
            ("streamrec_trainer_active", "sum over trainers not 1 (none trains, or two do)"),
            ("streamrec_trainer_rounds", "only `rejected` for hours (the stream drifted away)"),
        ),
    ),
)


@dataclass(frozen=True)
class MetricRow:
    """One metric family as a user queries it."""

    name: str  # as registered; counters are exposed with ``_total``, histograms as buckets
    kind: str  # counter, gauge, histogram
    labels: tuple[str, ...]
    help: str
    area: str
    alert: str  # "" when there is no obvious alert

    @property
    def exposed(self) -> str:
        """The sample name to query: ``_total`` on counters, the family name otherwise."""
        return f"{self.name}_total" if self.kind == "counter" else self.name


def worker_metrics() -> tuple[CollectorRegistry, list[Metric]]:
    """The registry of a worker following a models topic, built as the worker builds it.

    ``create_app`` makes one :class:`Metrics` and Faust's monitor in its registry;
    ``attach_hot_swap`` adds :class:`SwapMetrics`. Returns the registry and every metric object
    registered in it.
    """
    metrics = Metrics()
    swap = SwapMetrics(metrics.registry)
    faust = faust_sensors(metrics.registry).objects()
    objects = [*(v for o in (metrics, swap) for v in vars(o).values()), *faust]
    return metrics.registry, [m for m in objects if isinstance(m, MetricObject)]


def process_metrics() -> tuple[CollectorRegistry, list[Metric]]:
    """Every metric of every streamrec process, in one registry (the page documents them).

    A worker's (:func:`worker_metrics`) and the trainer's.
    """
    registry, objects = worker_metrics()
    trainer = TrainerMetrics(registry)
    extra = [v for v in vars(trainer).values() if isinstance(v, MetricObject)]
    return registry, [*objects, *extra]


def label_names(metric: Metric) -> tuple[str, ...]:
    """A metric's label names: prometheus_client keeps them only in ``_labelnames``.

    A family with labels but no series yet has no samples, so ``collect()`` cannot show them.
    This is the one private member read here; a unit test fails if the client renames it.
    """
    names = getattr(metric, "_labelnames", None)
    if not isinstance(names, tuple):
        raise MetricsReferenceError(f"{type(metric).__name__} has no _labelnames tuple")
    return tuple(str(n) for n in names)


def reference(
    registry: CollectorRegistry, objects: Iterable[Metric], areas: Sequence[Area] = AREAS
) -> list[MetricRow]:
    """Every family in ``registry`` as a row, ordered by area; raises if an area is missing one."""
    labels: dict[str, tuple[str, ...]] = {}
    for metric in objects:
        for family in metric.describe():
            labels[family.name] = label_names(metric)
    families = {f.name: f for f in registry.collect()}
    placed = {name for area in areas for name in area.metrics}
    where = f"AREAS in {__name__}"
    problems = [f"{n}: in no area (add it to {where})" for n in families if n not in placed]
    problems += [f"{n}: in {where} but not in the registry" for n in placed if n not in families]
    problems += [f"{n}: no metric object gives its labels" for n in families if n not in labels]
    for area in areas:
        stray = [n for n, _ in area.alerts if n not in area.metrics]
        problems += [f"{n}: an alert of {area.title!r} but not in its metrics" for n in stray]
    if problems:
        raise MetricsReferenceError("; ".join(sorted(problems)))
    rows = []
    for area in areas:
        alerts = dict(area.alerts)
        for name in area.metrics:
            family = families[name]
            row = MetricRow(
                name=name,
                kind=family.type,
                labels=labels[name],
                help=family.documentation,
                area=area.title,
                alert=alerts.get(name, ""),
            )
            rows.append(row)
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: Sequence[MetricRow], areas: Sequence[Area] = AREAS) -> str:
    """The generated block: one table per area, between the markers."""
    out = [BEGIN]
    for area in areas:
        out += ["", f"### {area.title}", "", area.about, ""]
        out += ["| Metric | Type | Labels | Meaning | Alert on |", "|---|---|---|---|---|"]
        for r in (r for r in rows if r.area == area.title):
            labels = ", ".join(f"`{n}`" for n in r.labels) or "—"
            cells = (f"`{r.exposed}`", r.kind, labels, _cell(r.help), _cell(r.alert) or "—")
            out.append("| " + " | ".join(cells) + " |")
    out += ["", END]
    return "\n".join(out)


def replace_block(page: str, block: str) -> str:
    """``page`` with its generated block replaced by ``block``."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise MetricsReferenceError(f"the page has no {BEGIN} ... {END} block")
    return page[:start] + block + page[end + len(END) :]


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or with ``--check``, compare) the generated block of ``docs/metrics.md``."""
    parser = argparse.ArgumentParser(description="Render the worker's metrics reference.")
    parser.add_argument("--out", type=Path, default=DOC_PATH, help="page to update")
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    page = args.out.read_text()
    updated = replace_block(page, render(reference(*process_metrics())))
    if args.check:
        stale = updated != page
        if stale:
            print(f"{args.out} is stale: run `make metrics-doc`", file=sys.stderr)
        return int(stale)
    args.out.write_text(updated)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
