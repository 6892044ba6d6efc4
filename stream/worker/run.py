"""Run one worker process: serve the settings' bundle, or follow the models topic.

Every worker also follows the item catalog (items topic, metadata table and, with a text
encoder configured, cold-start rows for announced items; see :mod:`streamrec.stream.items.catalog`).
"""

from __future__ import annotations

from streamrec.stream.config.settings import Settings
from streamrec.stream.transport.access import check_access
from streamrec.stream.worker.logs import use_log_format
from streamrec.stream.worker.serve import load_model, serve


def run_worker(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (blocking)."""
    use_log_format(settings)
    check_access(settings.kafka)  # a refused login stops here, not in Faust's endless retries
    if settings.models_topic:
        from streamrec.stream.worker.online import run_online_worker

        run_online_worker(settings, settings.models_topic)
        return
    from streamrec.stream.items.catalog import attach_item_catalog
    from streamrec.stream.items.cold_start import ItemRows

    rows, model = ItemRows.load(settings), load_model(settings)
    if rows is not None:
        rows.side(model)  # resolve (and log) the projection now, not on the first announcement
    serve(settings, model, lambda app: attach_item_catalog(app, settings, rows))
