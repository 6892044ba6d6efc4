"""A Faust Kafka transport: one flow guard per fetch, and an idempotent producer.

Faust's fetcher wraps *every* message in ``wait_first(callback(message), suspend_flow)``:
four tasks and an ``asyncio.wait`` per message, so that a delivery blocked on a full stream
buffer is abandoned when a rebalance suspends the flow. Here the guard covers a whole fetch
(one ``getmany``): the messages of it are delivered with plain awaits, and a suspension
cancels the rest of the fetch. That is what Faust does with them too (it skips them while
the flow is suspended): recovery seeks every partition back to its committed offset before
it resumes the flow, so no message is lost, and acks and commits are untouched.

Faust enables the idempotent producer only in exactly-once mode; here it is always on, so
the producer's own retries of a timed-out request never write a record twice (acks=all is
set by the app).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport
from faust.types import TransportT

from streamrec.stream.transport.positions import Positions, Verdict

log = logging.getLogger(__name__)

# Faust yields to the loop every 100 messages of a fetch (health checks, other agents).
_YIELD_EVERY = 100


class FetchGuardConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """The aiokafka consumer with one suspension guard per fetch instead of per message.

    It also keeps what it hands to the streams contiguous per partition
    (:mod:`streamrec.stream.transport.positions` decides about each record):

    - A seek by Faust (recovery seeks every partition back to its committed offset) ends
      the fetch being delivered: the rest of it may have been read from the old positions,
      and delivering it would move the read offsets past records the seek is about to fetch
      again, so that they would be dropped as "already delivered". The records may also
      have been read *after* the seek (the fetch was waiting while the seek ran), and the
      client counts them consumed; so the next fetch first seeks back to the committed
      offsets. Without that, a partition whose records all came in that fetch would wait
      for a later record to show the gap, and at the end of a burst there is none.
    - A record further on than the next expected offset of its partition is not taken as
      a gap at once: that partition alone is sought back and fetched again, while the rest
      of the fetch goes on for the others.
    """

    _seeks = 0  # bumped around every seek by Faust; a fetch delivered across one is stale
    _positions: Positions | None = None
    refetches = 0  # partitions sought back because a fetch had skipped records of theirs
    _resync = False  # the last fetch spanned a seek: seek to the committed offsets first
    resyncs = 0  # partitions sought back to their committed offset after a fetch spanned a seek

    @property
    def positions(self) -> Positions:
        """Expected offsets and refetches (created on first use: Faust builds the consumer)."""
        if self._positions is None:
            self._positions = Positions()
        return self._positions

    async def perform_seek(self) -> None:
        """Seek every partition to its committed offset (and forget delivery positions)."""
        self._seeks += 1
        try:
            await super().perform_seek()
        finally:
            self._seeks += 1
            self.positions.forget()

    async def seek(self, partition: Any, offset: int) -> None:
        """Seek one partition (and expect ``offset`` next from it)."""
        self._seeks += 1
        try:
            await super().seek(partition, offset)
        finally:
            self._seeks += 1
            self.positions.sought(partition, offset)

    async def _seek_to_committed(self) -> None:
        """Seek every partition whose offsets are committed back to its committed offset.

        A fetch that spans a seek (recovery seeks to the committed offsets while the fetch
        is waiting) can return records read *after* the seek. They cannot be told from
        records read before it, so the fetch is dropped; without this, the client's
        position would stand after them, and if no later record came to show the gap, the
        partition would never deliver them.
        """
        acks_enabled_for = self.app.topics.acks_enabled_for
        positions = self.positions
        committed = self._committed_offset
        sought = 0
        for tp in list(self.assignment()):
            if not acks_enabled_for(tp.topic):
                continue
            want = committed.get(tp)
            if want is not None:
                sought += 1
                positions.sought(tp, want)
                await AIOKafkaConsumer.seek(self, tp, want)
        self.resyncs += sought
        log.info("a fetch spanned a seek: %d partitions sought back to their commits", sought)

    async def _drain_messages(self, fetcher: Any) -> None:
        should_stop = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (should_stop() or fetcher_stopped()):
                if not self.flow_active:
                    # Suspended: wait here, as getmany would (recovery seeks, then resumes).
                    await self.wait(self.can_resume_flow.wait())
                    continue
                self.diag.set_flag(CONSUMER_FETCHING)
                try:
                    await self.wait_first(self._deliver_fetch(), self.suspend_flow.wait())
                finally:
                    self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _deliver_fetch(self) -> None:
        """Fetch once (up to 1 s) and pass each admitted message to the conductor, in order."""
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        positions = self.positions
        committed = self._committed_offset
        await asyncio.sleep(0)  # a fetch may return at once, again and again
        if self._resync and self._seeks % 2 == 0:  # (no seek running now)
            self._resync = False
            await self._seek_to_committed()
        since_yield = 0
        seeks = self._seeks
        positions.start_fetch()
        async for tp, message in self.getmany(timeout=1.0):
            if self._seeks != seeks:
                # A seek came while this fetch was read or waited for. Records read after
                # it were counted consumed by the client: the next fetch gets them again.
                self._resync = True
                return
            since_yield += 1
            if since_yield > _YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            admission = positions.admit(
                tp, offset, read_offset[tp], committed[tp], acks_enabled_for(message.topic)
            )
            verdict = admission.verdict
            if verdict is Verdict.SKIP:
                continue
            if verdict is Verdict.REFETCH:
                self.refetches += 1
                # Faust's own seek: not one that ends this fetch for the other partitions.
                await AIOKafkaConsumer.seek(self, tp, admission.want)
                continue
            if verdict is Verdict.DELIVER_AFTER_GAP:
                await self._add_gap(tp, admission.want, offset - 1)  # records really gone
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            if self._seeks != seeks:
                return  # sought while delivering: the seek's position stands
            read_offset[tp] = offset
            positions.delivered(tp, offset)


class IdempotentProducer(AIOKafkaProducer):  # type: ignore[misc]
    """Faust's aiokafka producer with idempotence on outside transactions too."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "enable_idempotence": True}


class FetchGuardTransport(AIOKafkaTransport):  # type: ignore[misc]
    """Faust's aiokafka transport with :class:`FetchGuardConsumer` and an idempotent producer."""

    Consumer = FetchGuardConsumer
    Producer = IdempotentProducer


class StreamrecApp(faust.App):  # type: ignore[misc]
    """A Faust app whose consumer transport is :class:`FetchGuardTransport`."""

    def _new_transport(self) -> TransportT:
        return FetchGuardTransport(self.conf.broker_consumer, self)
