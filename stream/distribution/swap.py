"""Hot swap in a running worker: switch the processor's model between batches.

The model watcher prepares the new model in its thread; :func:`attach_hot_swap` forwards it to
the event loop with ``call_soon_threadsafe``, and :func:`apply_swap` then switches the
:class:`~streamrec.stream.serving.slot.ModelSlot`. The processor reads its model once per batch and
never awaits between reading states, stepping and writing them, so a batch runs entirely on one
model and the next one on the other: nothing is dropped and nothing waits for a load. States written
by the old model carry its version; the pure step re-encodes them from the user's stored recent
items with the new model the next time that user appears, translating the stored rows through item
ids with the old model's row table, which the new model inherits here (see
:mod:`streamrec.stream.serving.step`: rows are never reused across vocabularies).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from streamrec.stream.config.kafka import KafkaConnection
from streamrec.stream.distribution.topic import ServingRecord
from streamrec.stream.distribution.trust import TrustConfig
from streamrec.stream.distribution.watcher import Loader, ModelWatcher
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.slot import ModelSlot

log = logging.getLogger(__name__)


class SwapMetrics:
    """Promotion history and swap timing, in the worker's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.swaps = Counter(
            "streamrec_model_swaps", "Model switches by cause.", ["cause"], registry=registry
        )
        self.failures = Counter(
            "streamrec_model_refused", "Announced versions this worker refused.", registry=registry
        )
        self.records_refused = Counter(
            "streamrec_models_records_refused",
            "Models-topic records refused before use (bad signature, name, schema, size...).",
            ["reason"],
            registry=registry,
        )
        self.latency = Gauge(
            "streamrec_model_promotion_latency_seconds",
            "Last swap: from the serving record's time to the switch in this worker.",
            registry=registry,
        )
        self.serving_since = Gauge(
            "streamrec_model_serving_since_seconds",
            "Unix time the serving model was switched in.",
            registry=registry,
        )


@dataclass
class SwapEvent:
    """One switch, as seen by this worker."""

    old: str
    new: str
    cause: str
    latency_s: float


def apply_swap(
    slot: ModelSlot,
    model: ServingModel,
    record: ServingRecord,
    metrics: SwapMetrics,
    keep_versions: int = 5,
) -> SwapEvent:
    """Serve ``model`` from the next batch on (runs on the event loop, between batches).

    The new model inherits the old one's row tables, so states the old model wrote are
    re-encoded through item ids, never read as rows of the new vocabulary.
    """
    model.succeed(slot.model, keep_versions)
    old = slot.swap(model).version
    now = time.time()
    latency = max(0.0, now - record.at)
    metrics.swaps.labels(record.cause).inc()
    metrics.latency.set(latency)
    metrics.serving_since.set(now)
    log.warning(
        "serving %s (was %s, %s, %.2f s after it was announced)",
        model.version,
        old,
        record.cause,
        latency,
    )
    return SwapEvent(old, model.version, record.cause, latency)


def initial_model(
    kafka: KafkaConnection,
    topic: str,
    models_dir: Path,
    loader: Loader,
    trust: TrustConfig | None = None,
    replication: int = 1,
    min_insync: int | None = None,
) -> tuple[ModelWatcher, ServingModel | None]:
    """A caught-up watcher and the last good serving version (None when none loads)."""
    from streamrec.stream.distribution.topic import ensure_models_topic

    ensure_models_topic(kafka, topic, replication, min_insync)
    watcher = ModelWatcher(kafka, topic, models_dir, loader, trust=trust)
    return watcher, watcher.catch_up()


def attach_hot_swap(
    app: Any,
    slot: ModelSlot,
    registry: CollectorRegistry,
    watcher: ModelWatcher,
    on_swap: Callable[[SwapEvent], object] | None = None,
) -> SwapMetrics:
    """Start ``watcher`` when the Faust ``app`` starts; swaps reach ``slot`` on its loop.

    ``on_swap`` runs on the loop right after each switch (e.g. the item catalog re-adding
    announced items the new model does not know).
    """
    metrics = SwapMetrics(registry)
    watcher.on_failure = lambda _version, _reason: metrics.failures.inc()
    for reason, n in watcher.catalog.refused.items():  # refused while catching up
        metrics.records_refused.labels(reason).inc(n)
    watcher.catalog.on_refused = lambda reason, _k, _d: metrics.records_refused.labels(reason).inc()
    if watcher.current is not None:
        metrics.serving_since.set(time.time())

    async def start_model_watcher() -> None:
        loop = asyncio.get_running_loop()

        def swap(model: ServingModel, record: ServingRecord) -> None:
            event = apply_swap(slot, model, record, metrics, watcher.trust.keep_versions)
            if on_swap is not None:
                on_swap(event)

        def ready(model: ServingModel, record: ServingRecord) -> None:
            loop.call_soon_threadsafe(swap, model, record)

        watcher.start(ready)

    app.task(start_model_watcher)
    return metrics
