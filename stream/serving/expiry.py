"""Idle users expire: their state is deleted locally and tombstoned in the changelog.

Without it the table (RocksDB and the compacted changelog every restore replays) only ever
grows. A state's age is the wall clock of its last write (``UserState.updated``), not its
events' time, so replays of historical data do not expire at once. A timer sweeps the
worker's active partitions every ``state_ttl_sweep_s``; each sweep deletes at most
``state_ttl_batch`` states so that it never holds the event loop for long.
"""

from __future__ import annotations

import logging
import time

from streamrec.stream.serving.metrics import Metrics
from streamrec.stream.serving.outbox import Outbox
from streamrec.stream.serving.table_writes import TableWriter

log = logging.getLogger(__name__)


async def sweep_idle_states(
    writer: TableWriter, outbox: Outbox, metrics: Metrics, ttl_s: float, limit: int
) -> int:
    """One sweep: expire up to ``limit`` idle states; wait for their tombstones' delivery."""
    now = time.time()
    candidates = writer.idle_keys(now, ttl_s, limit)
    if not candidates:
        return 0
    expired, batches = await writer.expire(candidates, now, ttl_s)
    for batch in batches:
        try:
            await batch.future
        except Exception as exc:  # a tombstone the broker refused: the changelog keeps the user
            raise await outbox.failed("tombstone", batch.topic, exc) from exc
    metrics.expired.inc(expired)
    log.info("expired %d idle user states (idle > %.0f s)", expired, ttl_s)
    return expired
