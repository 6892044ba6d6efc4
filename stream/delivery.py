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
from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport
from faust.types import TransportT

# Faust yields to the loop every 100 messages of a fetch (health checks, other agents).
_YIELD_EVERY = 100


class FetchGuardConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """The aiokafka consumer with one suspension guard per fetch instead of per message."""

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
        """Fetch once (up to 1 s) and pass each new message to the conductor, in order."""
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        await asyncio.sleep(0)  # a fetch may return at once, again and again
        since_yield = 0
        async for tp, message in self.getmany(timeout=1.0):
            since_yield += 1
            if since_yield > _YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            last = read_offset[tp]
            if last is not None and offset < last:
                continue  # already delivered (Faust drops these too)
            if last and offset - last > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, last + 1, offset)  # e.g. compacted or aborted records
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            read_offset[tp] = offset


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
