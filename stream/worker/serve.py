"""Serve one model: open bundles, make sure the topics exist, build the app, run Faust.

What a worker process does once it has its model; :mod:`.run` decides where the model comes from
(the settings' bundle, or the models topic through :mod:`.online`). A lost record ends the process
with :data:`EXIT_FATAL`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from streamrec.export.spec import INDEX_ROLE
from streamrec.models.data.vocab import RESERVED
from streamrec.stream.config.settings import Settings
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.transport import diagnose
from streamrec.stream.worker.logs import logging_config

if TYPE_CHECKING:
    from streamrec.export.bundle import Manifest
    from streamrec.stream.worker.app import StreamApp

log = logging.getLogger(__name__)

EXIT_FATAL = 70  # EX_SOFTWARE: a record could not be delivered; the supervisor restarts us
FATAL_GRACE_S = 2.0


class WorkerConfigError(RuntimeError):
    """Raised when the worker cannot start with the given settings."""


INT8_GRAPH = "step_int8"  # the bundle's role of the int8-quantised step (export's variant)


def scoring_graph(settings: Settings, graphs: Collection[str], on_gpu: bool) -> str:
    """The bundle graph role that serves under ``settings.scoring`` ("step" or the int8 one).

    Raises :class:`WorkerConfigError` when int8 is required and the bundle has none.
    """
    if settings.scoring == "exact":
        return "step"
    has_int8 = INT8_GRAPH in graphs
    if settings.scoring == "int8":
        if not has_int8:
            raise WorkerConfigError(
                "STREAMREC_SCORING=int8 but the bundle has no admitted int8 step graph "
                "(export it with --variants int8; its gate may have refused it), or use "
                "STREAMREC_SCORING=exact or auto"
            )
        if on_gpu:
            raise WorkerConfigError(
                "STREAMREC_SCORING=int8 runs on the CPU only: set STREAMREC_ONNX_PROVIDER=cpu "
                "or STREAMREC_SCORING=exact"
            )
        return INT8_GRAPH
    return INT8_GRAPH if has_int8 and not on_gpu else "step"


def topk_source(settings: Settings, manifest: Manifest, on_gpu: bool) -> str | None:
    """``"index"`` when the bundle's item index serves the top-K, else None (exact scoring).

    Raises :class:`WorkerConfigError` when the index is required and cannot serve.
    """
    if settings.topk == "exact":
        return None
    has_index = manifest.index is not None
    if settings.topk == "index":
        if not has_index:
            raise WorkerConfigError(
                "STREAMREC_TOPK=index but the bundle has no item index (export it with "
                "--index; its recall gate may have refused it), or use STREAMREC_TOPK=exact "
                "or auto"
            )
        return INDEX_ROLE
    large = manifest.vocab.size - RESERVED >= settings.index_min_items
    if has_index and large and not on_gpu and settings.scoring != "int8":
        return INDEX_ROLE
    return None


def bundle_loader(settings: Settings) -> Callable[[Path], ServingModel]:
    """A function: bundle directory -> verified, warmed-up serving model (the worker's ORT)."""
    from streamrec.export.bundle import load_bundle
    from streamrec.export.runtime import StepSession
    from streamrec.models.inference import wants_cuda

    def load(path: Path) -> ServingModel:
        bundle = load_bundle(path)
        provider = settings.onnx_provider
        on_gpu = wants_cuda(provider)
        graph = topk_source(settings, bundle.manifest, on_gpu) or scoring_graph(
            settings, bundle.manifest.graphs, on_gpu
        )
        session = StepSession(
            bundle,
            provider=provider,
            graph=graph,
            threads=settings.onnx_threads or None,
            spin=False,
        )
        index = bundle.manifest.index
        if graph == INDEX_ROLE and index is not None:
            log.warning(
                "model %s takes top-K from its item index (%d items, recall@10 %.4f against "
                "exact scoring at export, ef %d)",
                session.version,
                index.rows,
                index.recall,
                index.ef_search,
            )
        else:
            log.info("model %s scores with its %s graph", session.version, graph)
        return ServingModel(session)

    return load


def load_model(settings: Settings) -> ServingModel:
    """Open and verify the bundle named by the settings (ONNX Runtime, no torch)."""
    if settings.bundle is None:
        raise WorkerConfigError("no model bundle: set STREAMREC_BUNDLE or pass --bundle")
    return bundle_loader(settings)(settings.bundle)


def resolve_partitions(settings: Settings) -> int:
    """Partitions of the events topic, creating the topics first when configured to."""
    from streamrec.stream.config.topics import check_copartitioned, ensure_topics, partition_count

    if settings.create_topics:
        return ensure_topics(settings)
    found = partition_count(settings, settings.events_topic)
    if found is None:
        raise WorkerConfigError(f"topic {settings.events_topic} does not exist")
    check_copartitioned(settings, found)
    return found


def serve(
    settings: Settings, model: ServingModel, extend: Callable[[StreamApp], object] | None = None
) -> None:
    """Build the app around ``model``, let ``extend`` attach more to it, run Faust (blocking)."""
    from streamrec.stream.config.topics import describe_topic
    from streamrec.stream.worker.app import create_app

    partitions = resolve_partitions(settings)
    events = describe_topic(settings, settings.events_topic)
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    stream_app = create_app(settings, model, partitions, events.topic_id if events else "")
    if extend is not None:
        extend(stream_app)
    log.warning(
        "worker %s: model %s, %d partitions, http://%s:%d",
        settings.app_id,
        model.version,
        partitions,
        settings.web_host,
        settings.web_port,
    )
    worker = _quiet_worker_class()(
        stream_app.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings),  # None: Faust's own text set-up
        quiet=True,
        redirect_stdouts=False,
    )
    stream_app.health.on_fatal.append(_exit_soon)
    tune_interpreter(settings)
    worker.execute_from_commandline()


def tune_interpreter(settings: Settings) -> None:
    """Set the process up for the hot path, once everything is loaded.

    - The step hands the interpreter lock to the consumer thread during each model call; a
      short switch interval gives it back soon after (Python's 5 ms cost each batch up to
      that: 5.2 against 2.2 ms per batch of wall time in the step beyond its per-event cost).
    - Start-up's heap leaves the garbage collector's generations (:func:`_freeze_heap`).
    - The youngest generation is collected every ``gc_young_threshold`` allocations, not
      Python's 700: a micro-batch allocates some 20 objects per event, most freed by their
      reference counts, and at 700 the collector ran about 150 times a second, and the older
      generations after it, for 3-4 % of the worker's time while it drained a backlog.
    """
    sys.setswitchinterval(settings.gil_switch_ms / 1000.0)
    _freeze_heap()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(settings.gc_young_threshold, middle, oldest)


def _freeze_heap() -> None:
    """Leave what start-up built (modules, the model, the app) out of garbage collections.

    A full collection walks every tracked object: some 40 ms for a worker's start-up heap,
    a pause in the middle of some batch every second or so at a few hundred events/s.
    """
    gc.collect()
    gc.freeze()


async def _exit_soon(exc: BaseException) -> None:
    """Exit non-zero once probes had a moment to see ``/health`` fail.

    Not a graceful stop: Faust's shutdown waits for every fetched message to be acked, and
    the messages behind a lost record never will be. Exiting at once is what a crash does,
    and the worker is built to survive crashes: nothing unacked was committed, the restart
    replays it, and the offsets in each user's state keep the replay from applying twice.
    """
    loop = asyncio.get_running_loop()
    loop.call_later(FATAL_GRACE_S, _exit_now)


def _exit_now() -> None:
    logging.shutdown()
    os._exit(EXIT_FATAL)


def _quiet_worker_class() -> type:
    import faust

    class QuietWorker(faust.Worker):  # type: ignore[misc]
        """A Faust worker whose root logger really has the configured level.

        Faust's spinner set-up leaves the root logger at DEBUG (only its handler filters), so
        every debug call on the hot path (aiokafka: two per message sent) would build a
        LogRecord; the level is set after it.
        """

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            logger.setLevel(level)

        def _on_sigusr1(self) -> None:
            # mode's own dump logs every frame's locals (hundreds of KB); ours is compact.
            diagnose.dump(self.app)

    return QuietWorker
