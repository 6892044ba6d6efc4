"""A Faust Kafka transport: one flow guard per fetch, and an idempotent producer.

Faust's fetcher wraps *every* message in ``wait_first(callback(message), suspend_flow)``:
four tasks and an ``asyncio.wait`` per message, so that a delivery blocked on a full stream
buffer is abandoned when a rebalance suspends the flow. Here the guard covers a whole fetch:
its records are delivered with plain awaits, and a suspension cancels the rest of it.

The broker client counts a fetch's records consumed as soon as it returns them, so records a
delivery did not get to are not simply dropped, as Faust does: each partition keeps track of
its first record not handled, and before the next fetch a partition left with such records
is sought back to it, unless it was sought since (recovery, a rebalance's seek to the
committed offsets) or its position already stands before them (see
:mod:`streamrec.stream.transport.positions`). Fetches and seeks never overlap: a seek waits
for the fetch in flight (at most its one-second timeout), and a fetch whose delivery was
cancelled while it was still in flight is finished, and its records rewound, before the next.
Without that, a fetch abandoned by a suspension went on in the consumer thread and could
take the records of a partition that the rebalance had just assigned and recovery had
just sought: Faust's set of active partitions is one object, changed in place.

Topics with an inbox (``StreamrecApp.inboxes``: the events and repartition topics) skip
Faust's conductor, channels and streams altogether: their messages are tracked as Faust's
streams track them (so a revoke waits for them and commits follow our acks) and added to the
inbox (:mod:`streamrec.stream.transport.batching`) that the agent takes its batches from.

The broker client keeps one fetch request in flight per broker, and leaves out of it the
partitions whose fetched records are still waiting to be taken once they have waited its
prefetch backoff (100 ms). A worker busy with a batch for longer than that therefore sent a
request for its idle partitions alone (repartition topic, items, table changelogs), the broker
held it for the whole fetch wait (Faust fixes 1.5 s), and the busy partitions got nothing new
meanwhile: under load, records came in bursts every 1.5 s and latency jumped to seconds and
stayed there. :class:`TunedConsumerThread` holds fetched records for ``PREFETCH_HOLD_S`` (no
request to their broker before they are taken, as the client does within its backoff) and
sets the fetch wait from the ``fetch_max_wait_ms`` setting, which bounds the starvation if a
worker leaves records waiting longer still.

Faust enables the idempotent producer only in exactly-once mode; here it is always on, so
the producer's own retries of a timed-out request never write a record twice (acks=all is
set by the app).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport
from faust.types import TP, TransportT

from streamrec.stream.transport.batching import Inbox
from streamrec.stream.transport.positions import Outstanding, Positions, Verdict, rewind_target

log = logging.getLogger(__name__)

# Faust yields to the loop every 100 messages of a fetch (health checks, other agents).
_YIELD_EVERY = 100
_FETCH_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class _Fetched:
    """One fetch's records (tp -> records in offset order) and the seeks done before it returned."""

    records: Mapping[TP, list[Any]]
    seq: int


PREFETCH_HOLD_S = 1.0


def hold_prefetched(consumer: Any, hold_s: float) -> None:
    """Make a started broker client hold fetched records ``hold_s`` before fetching without them.

    Within that time it sends no fetch request to the records' broker until they are taken
    (it is notified at once when they are), instead of sending one for the other partitions.
    """
    fetcher = consumer._fetcher
    if not hasattr(fetcher, "_prefetch_backoff"):
        raise RuntimeError("aiokafka's Fetcher has no _prefetch_backoff (see stream/transport)")
    fetcher._prefetch_backoff = hold_s


def _app_of(service: Any) -> StreamrecApp:
    """The app of this transport's consumer or its thread: always a :class:`StreamrecApp`."""
    return cast("StreamrecApp", service.app)


class TunedConsumerThread(AIOKafkaConsumerThread):  # type: ignore[misc]
    """Faust's consumer thread; its broker client has the app's fetch wait and prefetch hold."""

    async def on_start(self) -> None:
        """Build and start the broker client (Faust), then hold its fetched records."""
        await super().on_start()
        hold_prefetched(self._consumer, _app_of(self).prefetch_hold_s)

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = _app_of(self).fetch_max_wait_ms
        if wait_ms is not None:
            # The client reads it when it starts (it builds its fetcher then).
            consumer._fetch_max_wait_ms = max(1, round(wait_ms))
        return consumer


class FetchGuardConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """The aiokafka consumer with one suspension guard per fetch instead of per message.

    It keeps what it hands to the streams contiguous per partition
    (:mod:`streamrec.stream.transport.positions` decides about each record):

    - Records of a fetch that were not delivered (cancelled, paused, a new generation) are
      fetched again: their partition is sought back before the next fetch.
    - A partition sought after a fetch returned keeps the seek's position: the rest of its
      records in that fetch are passed over.
    - A record further on than the next expected offset of its partition is not taken as
      a gap at once: that partition alone is sought back and fetched again, while the rest
      of the fetch goes on for the others.
    """

    _positions: Positions | None = None
    _seek_seq = 0  # seeks so far; ``_sought_at[tp]``: the seek that last moved ``tp``
    _sought: dict[TP, int] | None = None
    _lock: asyncio.Lock | None = None  # held by a fetch and by each seek
    _fetch_task: asyncio.Future[_Fetched] | None = None  # a fetch nobody took the records of
    _leftovers: list[Outstanding[TP]] | None = None
    refetches = 0  # partitions sought back because a fetch had skipped records of theirs
    rewinds = 0  # partitions sought back to records a fetch returned but did not deliver

    def _new_consumer_thread(self) -> TunedConsumerThread:
        return TunedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def committed_offsets(self) -> dict[TP, int | None]:
        """The committed offset (the next one to read) of each assigned partition.

        Faust's own record: read from the broker on assignment, moved by each commit (None:
        nothing committed yet).
        """
        committed = self._committed_offset
        return {tp: committed.get(tp) for tp in self.assignment()}

    @property
    def positions(self) -> Positions:
        """Expected offsets and refetches (created on first use: Faust builds the consumer)."""
        if self._positions is None:
            self._positions = Positions()
        return self._positions

    @property
    def _sought_at(self) -> dict[TP, int]:
        if self._sought is None:
            self._sought = {}
        return self._sought

    def _seek_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _mark_sought(self, tps: Iterable[TP]) -> None:
        self._seek_seq += 1
        sought_at = self._sought_at
        for tp in tps:
            sought_at[tp] = self._seek_seq

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every partition with a committed offset to it (after the fetch in flight)."""
        async with self._seek_lock():
            offsets: Mapping[TP, int] = await super().seek_to_committed()
            # The client seeks only partitions whose committed offset is above 0.
            self._mark_sought(tp for tp, offset in offsets.items() if offset and offset > 0)
            return offsets

    async def perform_seek(self) -> None:
        """Seek every partition to its committed offset (and forget delivery positions)."""
        try:
            await super().perform_seek()
        finally:
            self.positions.forget()

    async def seek(self, partition: Any, offset: int) -> None:
        """Seek one partition (after the fetch in flight), and expect ``offset`` next from it."""
        async with self._seek_lock():
            self._mark_sought([partition])
            await super().seek(partition, offset)
            self.positions.sought(partition, offset)

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        """Seek partitions (recovery does, to its changelog offsets) after the fetch in flight."""
        async with self._seek_lock():
            self._mark_sought(partitions)
            await super().seek_wait(partitions)
            for tp, offset in partitions.items():
                self.positions.sought(tp, offset)

    async def _seek_back(self, tp: TP, offset: int) -> None:
        """Our own seek, between fetches (none is in flight): Faust's, marked as a seek."""
        self._mark_sought([tp])
        await AIOKafkaConsumer.seek(self, tp, offset)
        self.positions.sought(tp, offset)

    def _client_position(self, tp: TP) -> int | None:
        """The broker client's position of ``tp`` (None: assigned but not known yet)."""
        assignment = self._thread._ensure_consumer()._subscription.subscription.assignment
        if assignment is None or tp not in assignment.tps:
            return None
        state = assignment.state_value(tp)
        return state.position if state.has_valid_position else None

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

    async def _fetch(self) -> _Fetched:
        """One fetch (up to one second), with no seek running meanwhile."""
        async with self._seek_lock():
            if not self.flow_active:
                return _Fetched({}, self._seek_seq)
            records, _ = await self._wait_next_records(_FETCH_TIMEOUT_S)
            return _Fetched(records or {}, self._seek_seq)

    async def _rewind_leftovers(self) -> None:
        """Seek partitions back to the fetched records that earlier fetches did not deliver."""
        task, self._fetch_task = self._fetch_task, None
        leftovers = self._leftovers or []
        if task is not None:  # its delivery was cancelled while it was in flight
            fetched = await task
            leftovers.append(Outstanding.of(fetched.records, fetched.seq))
        self._leftovers = None
        if not leftovers:
            return
        assigned = self.assignment()
        sought_at = self._sought_at
        rewound = 0
        for outstanding in leftovers:
            for tp, first in outstanding.left().items():
                target = rewind_target(
                    first,
                    self._client_position(tp) if tp in assigned else None,
                    tp in assigned,
                    sought_at.get(tp, -1) > outstanding.seq,
                )
                if target is not None:
                    rewound += 1
                    await self._seek_back(tp, target)
        self.rewinds += rewound
        if rewound:
            log.info("records fetched but not delivered: %d partitions sought back", rewound)

    async def _deliver_fetch(self) -> None:
        """Fetch once and pass each admitted message to the conductor, in order."""
        await asyncio.sleep(0)  # a fetch may return at once, again and again
        await self._rewind_leftovers()
        task = self._fetch_task = asyncio.ensure_future(self._fetch())
        fetched = await asyncio.shield(task)
        self._fetch_task = None
        outstanding = Outstanding.of(fetched.records, fetched.seq)
        try:
            await self._deliver(fetched, outstanding)
        finally:
            if outstanding.left():
                self._leftovers = [*(self._leftovers or []), outstanding]

    async def _deliver(self, fetched: _Fetched, outstanding: Outstanding[TP]) -> None:
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        positions = self.positions
        committed = self._committed_offset
        sought_at = self._sought_at
        seq = fetched.seq
        generation_id = self.app.consumer_generation_id
        every_partition = self.app.client_only
        active = self._get_active_partitions()  # changed in place by pause and resume
        buffered = self._buffered_partitions
        to_message = self._to_message
        inboxes: Mapping[str, Inbox] = _app_of(self).inboxes
        track = self.track_message
        held: set[TP] = set()  # paused since the fetch: rewound, fetched again when resumed
        for tp in fetched.records:
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
        since_yield = 0
        positions.start_fetch()
        for tp, record in self.scheduler.iterate(fetched.records):
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                return  # the rest is rewound before the next fetch
            offset = record.offset
            if sought_at.get(tp, -1) > seq:
                outstanding.handled(tp, offset)  # sought since: the seek's position stands
                continue
            if tp in held:
                continue
            if not (every_partition or tp in active or tp in buffered):
                held.add(tp)
                continue
            since_yield += 1
            if since_yield > _YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            admission = positions.admit(
                tp, offset, read_offset[tp], committed[tp], acks_enabled_for(tp.topic)
            )
            verdict = admission.verdict
            if verdict is Verdict.SKIP:
                outstanding.handled(tp, offset)
                continue
            if verdict is Verdict.REFETCH:
                self.refetches += 1
                outstanding.handled(tp, offset)
                await self._seek_back(tp, admission.want)
                continue
            if verdict is Verdict.DELIVER_AFTER_GAP:
                await self._add_gap(tp, admission.want, offset - 1)  # records really gone
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            message = to_message(tp, record)
            inbox = inboxes.get(tp.topic)
            if inbox is None:
                await callback(message)  # Faust's conductor: channels, streams, events
            else:  # straight to the agent's batches; Faust still tracks it for commits
                message.tracked = True
                track(message)
                inbox.add(message)
            outstanding.handled(tp, offset)
            if sought_at.get(tp, -1) > seq:
                continue  # sought while delivering: the seek's position stands
            read_offset[tp] = offset
            positions.delivered(tp, offset)
            if inbox is not None and inbox.crowded:
                await inbox.wait_room()


class IdempotentProducer(AIOKafkaProducer):  # type: ignore[misc]
    """Faust's aiokafka producer with idempotence on outside transactions too."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "enable_idempotence": True}


class FetchGuardTransport(AIOKafkaTransport):  # type: ignore[misc]
    """Faust's aiokafka transport with :class:`FetchGuardConsumer` and an idempotent producer."""

    Consumer = FetchGuardConsumer
    Producer = IdempotentProducer


class StreamrecApp(faust.App):  # type: ignore[misc]
    """A Faust app whose consumer transport is :class:`FetchGuardTransport`.

    ``inboxes``: topic name -> the :class:`~streamrec.stream.transport.batching.Inbox` its
    messages go to, bypassing Faust's conductor, channels and streams.
    ``fetch_max_wait_ms``: the broker client's fetch wait (None: Faust's 1.5 s);
    ``prefetch_hold_s``: how long it holds fetched records (:func:`hold_prefetched`).
    """

    def __init__(
        self,
        *args: Any,
        fetch_max_wait_ms: float | None = None,
        prefetch_hold_s: float = PREFETCH_HOLD_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.inboxes: dict[str, Inbox] = {}
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.prefetch_hold_s = prefetch_hold_s

    def _new_transport(self) -> TransportT:
        return FetchGuardTransport(self.conf.broker_consumer, self)
