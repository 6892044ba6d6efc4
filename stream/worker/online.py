"""A worker that serves from the models topic and hot-swaps promoted versions.

The same worker as :func:`.serve.serve`, plus a :class:`ModelWatcher`: on
start it serves the topic's serving version, or the last good one in its history when that is
refused (the bundle of the settings only when none is usable), then follows the topic and switches
models between batches. After a switch the item catalog gives announced items the new model does not
know their rows again, with the new bundle's text projection.
"""

from __future__ import annotations

import logging

from streamrec.stream.config.settings import Settings
from streamrec.stream.worker.serve import bundle_loader, load_model, serve

log = logging.getLogger(__name__)


def run_online_worker(settings: Settings, models_topic: str) -> None:
    """Serve until SIGINT/SIGTERM, following ``models_topic`` (blocking)."""
    from streamrec.stream.distribution.swap import attach_hot_swap, initial_model
    from streamrec.stream.distribution.trust import TrustConfig
    from streamrec.stream.items.catalog import attach_item_catalog
    from streamrec.stream.items.cold_start import ItemRows
    from streamrec.stream.worker.app import StreamApp

    load = bundle_loader(settings)
    models_dir = settings.models_dir
    trust = TrustConfig.from_settings(settings)
    watcher, model = initial_model(
        settings.kafka,
        models_topic,
        models_dir,
        load,
        trust,
        settings.replication,
        settings.min_insync_replicas,
    )
    if model is None:
        log.warning("no usable version announced on %s; serving the local bundle", models_topic)
        model = load_model(settings)

    rows = ItemRows.load(settings)
    if rows is not None:
        rows.side(model)  # resolve (and log) the projection now, not on the first announcement

    def extend(stream_app: StreamApp) -> None:
        catalog = attach_item_catalog(stream_app, settings, rows)
        attach_hot_swap(
            stream_app.app,
            stream_app.slot,
            stream_app.metrics.registry,
            watcher,
            on_swap=catalog.rescan,
        )
        log.warning("worker %s: following %s", settings.app_id, models_topic)

    serve(settings, model, extend)
