"""One micro-batch from Kafka: validate, route, read state, run the pure step, write, send.

The agents in :mod:`streamrec.stream.worker.app` feed micro-batches
(:mod:`streamrec.stream.transport.batching`) to :meth:`BatchProcessor.handle`. Between reading
states and writing them there is no ``await``, so two agents of one worker (direct and repartitioned
events) never interleave on a user. (The step runs on the event loop: in a worker thread it measured
slower, as the step's Python and the loop's Kafka path take turns at the interpreter lock.)

Ordering for exactly-once state: state writes go to the table (RocksDB + changelog) and
recommendations to the producer before the batch is acknowledged; Faust flushes the
producer before it commits offsets. A crash can therefore only replay events whose state
write may or may not have reached the changelog, and the offsets stored in each user's
state tell the two cases apart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from faust.types import AppT, Message, TableT

from streamrec.stream.config.settings import Settings
from streamrec.stream.records.intake import parse_records
from streamrec.stream.records.schemas import DeadLetter, Recommendation, Source, StreamEvent
from streamrec.stream.serving.metrics import Metrics
from streamrec.stream.serving.outbox import Outbox, Sends
from streamrec.stream.serving.slot import ModelSlot
from streamrec.stream.serving.state import (
    StateDecodeError,
    UserState,
    decode_state,
    encode_state,
    topic_tag,
)
from streamrec.stream.serving.step import StepConfig, step_batch
from streamrec.stream.serving.table_writes import TableWriter
from streamrec.stream.transport.partitioner import partition_for_key, partitions_for_keys
from streamrec.stream.transport.producing import BatchSender

log = logging.getLogger(__name__)


def step_config(settings: Settings) -> StepConfig:
    """The pure step's knobs from the settings."""
    from streamrec.models.data.actions import parse_action

    return StepConfig(
        top_k=settings.top_k,
        recent_items=settings.recent_items,
        exclude_actions=frozenset(int(parse_action(a)) for a in settings.exclude_actions),
        reemit_on_replay=settings.reemit_on_replay,
        reject_unknown_items=settings.unknown_items == "reject",
    )


@dataclass
class _Parsed:
    valid: list[StreamEvent]
    owner: dict[str, int]  # user -> the user's partition (its table partition too)
    keys: dict[str, bytes]  # user -> the user id encoded once: the table's and the records' key
    sent_at: dict[Source, float]  # source -> input message timestamp (end-to-end latency)


class BatchProcessor:
    """Turns batches of Kafka messages into state writes and output messages."""

    def __init__(
        self,
        app: AppT,
        settings: Settings,
        slot: ModelSlot,
        table: TableT[bytes, bytes],
        partitions: int,
        metrics: Metrics,
        outbox: Outbox,
        events_topic_id: str = "",
    ) -> None:
        self.app = app
        self.outbox = outbox
        self.settings = settings
        self.slot = slot
        self.table = table
        self.partitions = partitions
        self.metrics = metrics
        tag = topic_tag(settings.events_topic, events_topic_id)
        self.config = replace(step_config(settings), topic_tags={settings.events_topic: tag})
        self.limits = settings.event_limits
        kill = settings.fault_kill_after_writing
        self.writer = TableWriter(
            app, table, BatchSender(app), kill.encode() if kill is not None else None
        )

    async def handle(
        self, messages: Sequence[Message], repartitioned: bool
    ) -> asyncio.Future[None] | None:
        """Process one micro-batch; never raises for bad input (dead letters instead).

        Returns a task that completes when everything the batch produced is delivered (and
        raises :class:`streamrec.stream.serving.outbox.SendFailedError` if a record was lost), or
        None.
        """
        started = time.perf_counter()
        self.metrics.batch_size.observe(len(messages))
        sends = self.outbox.batch()
        parsed = await self._parse(messages, repartitioned, sends)
        if parsed.valid:
            await self._apply(parsed, sends)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return sends.settled()

    async def _parse(
        self, messages: Sequence[Message], repartitioned: bool, sends: Sends
    ) -> _Parsed:
        s = self.settings
        out = _Parsed([], {}, {}, {})
        records = [(m.value, Source(m.topic, m.partition, m.offset)) for m in messages]
        intake = parse_records(
            records, repartitioned, self.limits, time.time(), s.events_topic, self.partitions
        )
        if intake.internal_errors:
            self.metrics.internal_errors.labels("parse").inc(intake.internal_errors)
        for letter in intake.dead:
            await self._dead_letter(letter, sends)
        valid = intake.valid
        keys = [ev.user_id.encode() for _, ev in valid]
        homes = out.owner
        homes_of = partitions_for_keys(keys, self.partitions).tolist()
        for (index, ev), key, home in zip(valid, keys, homes_of, strict=True):
            msg = messages[index]
            if home != msg.partition:
                # Not keyed by user id: forward to the co-partitioned topic, keeping the
                # original source so replays of the forwarder are still recognised.
                await sends.send(
                    self.app.producer,
                    "forward",
                    s.repartition_topic,
                    key,
                    ev.to_json(),
                    home,
                    None,
                    None,
                )
                self.metrics.events.labels("repartitioned").inc()
                continue
            out.valid.append(ev)
            homes[ev.user_id] = home
            out.keys[ev.user_id] = key
            out.sent_at[ev.source] = msg.timestamp
        return out

    async def _apply(self, parsed: _Parsed, sends: Sends) -> None:
        states: dict[str, UserState | None] = {}
        owner, keys = parsed.owner, parsed.keys
        stored = self.writer.read_many((p, keys[user]) for user, p in owner.items())
        for user, raw in zip(owner, stored, strict=True):
            try:
                states[user] = decode_state(raw) if raw is not None else None
            except StateDecodeError:
                log.exception("unreadable state for user %r; starting it afresh", user)
                states[user] = None
        t0 = time.perf_counter()
        result = step_batch(states, parsed.valid, self.slot.model, self.config, time.time())
        self.metrics.step_seconds.observe(time.perf_counter() - t0)
        writes = [(owner[user], keys[user], encode_state(st)) for user, st in result.states.items()]
        try:
            written = await self.writer.write(writes)
        except Exception as exc:  # the batch could not even be handed to the producer
            raise await self.outbox.failed("changelog", self.table.name, exc) from exc
        for batch in written:
            sends.track("changelog", batch.topic, batch.future)
        if writes:
            self.metrics.users.set(len(writes[-1][2]))
        await self._send_recommendations(result.recommendations, parsed, sends)
        sent_at = parsed.sent_at
        stamps = np.fromiter(
            (sent_at.get(rec.source, 0.0) for rec in result.recommendations),
            dtype=np.float64,
            count=len(result.recommendations),
        )
        stamps = stamps[stamps > 0]  # replies to replays of another batch: no timestamp here
        self.metrics.e2e_seconds.observe_many(np.maximum(0.0, time.time() - stamps))
        self.metrics.recommendations.inc(len(result.recommendations))
        self.metrics.events.labels("replayed").inc(result.duplicates)
        if result.reset:
            self.metrics.states_reset.inc(result.reset)
        self.metrics.events.labels("applied").inc(
            len(parsed.valid) - result.duplicates - len(result.rejected)
        )
        for ev, err in result.rejected:
            raw = ev.to_json()
            await self._dead_letter(DeadLetter.from_error(raw, ev.source, err), sends)

    async def _send_recommendations(
        self, recommendations: Sequence[Recommendation], parsed: _Parsed, sends: Sends
    ) -> None:
        """One producer batch per partition, keyed (and partitioned) by user id.

        ``parsed.owner``: each user's partition of the input topics, the same partition when
        the output topic has as many (same key, same hash).
        """
        if not recommendations:
            return
        topic = self.settings.recommendations_topic
        sender = self.writer.sender
        owner, keys = parsed.owner, parsed.keys
        try:
            count = await sender.partition_count(topic)
            same = count == self.partitions
            records = []
            for rec in recommendations:
                key = keys.get(rec.user_id) or rec.user_id.encode()
                home = owner.get(rec.user_id) if same else None
                if home is None:
                    home = partition_for_key(key, count)
                records.append((home, key, rec.to_json()))
            batches = await sender.send(topic, records)
        except Exception as exc:  # e.g. metadata timeout, a record larger than a batch: lost
            raise await self.outbox.failed("recommendation", topic, exc) from exc
        for batch in batches:
            sends.track("recommendation", topic, batch.future)

    async def _dead_letter(self, letter: DeadLetter, sends: Sends) -> None:
        self.metrics.events.labels("dead_letter").inc()
        self.metrics.dead_letters.labels(letter.reason.value).inc()
        topic = self.settings.dead_letter_topic
        await sends.send(
            self.app.producer, "dead_letter", topic, None, letter.to_json(), None, None, None
        )
