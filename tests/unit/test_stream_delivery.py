"""Unit tier: the fetch-guarded consumer delivers each fetch in order, once, with plain awaits.

The consumer runs without a broker: its fetch (``_wait_next_records``), the client's seek and
position are replaced by fakes that record what the consumer asks of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from faust.types import TP

from streamrec.stream.transport.batching import Inbox
from streamrec.stream.transport.delivery import (
    PREFETCH_HOLD_S,
    FetchGuardConsumer,
    StreamrecApp,
    TunedConsumerThread,
)

T0, T1 = TP("t", 0), TP("t", 1)


class _Rec:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Msg:
    def __init__(self, tp: TP, offset: int) -> None:
        self.tp = tp
        self.topic = tp.topic
        self.offset = offset


def _records(pairs: list[tuple[TP, int]]) -> dict[TP, list[_Rec]]:
    out: dict[TP, list[_Rec]] = {}
    for tp, offset in pairs:
        out.setdefault(tp, []).append(_Rec(offset))
    return out


class _Fake:
    """What the consumer asked: seeks; what it delivered: (tp, offset) in order."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.delivered: list[tuple[TP, int]] = []
        self.seeks: list[tuple[TP, int]] = []
        self.position: dict[TP, int] = {}
        self.assigned: set[TP] = {T0, T1}

    def offsets(self, tp: TP = T0) -> list[int]:
        return [o for t, o in self.delivered if t == tp]

    def fetches(self, pairs: list[tuple[TP, int]], gate: asyncio.Event | None = None) -> None:
        """The next fetches return ``pairs`` (after ``gate`` is set, if given)."""

        async def wait_next_records(timeout: float) -> tuple[dict[TP, list[_Rec]], None]:
            if gate is not None:
                await gate.wait()
            return _records(pairs), None

        self.consumer._wait_next_records = wait_next_records


def _consumer(
    acks: bool = True, on_deliver: Callable[[_Msg], Awaitable[None]] | None = None
) -> tuple[Any, _Fake]:
    app = StreamrecApp("delivery-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    consumer: Any = app.consumer
    fake = _Fake(consumer)

    async def callback(message: _Msg) -> None:
        if on_deliver is not None:
            await on_deliver(message)
        fake.delivered.append((message.tp, message.offset))

    async def seek(tp: TP, offset: int) -> None:
        fake.seeks.append((tp, offset))
        fake.position[tp] = offset

    consumer.callback = callback
    consumer._seek = seek
    consumer._to_message = lambda tp, record: _Msg(tp, record.offset)
    consumer.highwater = lambda tp: 0
    consumer.assignment = lambda: set(fake.assigned)
    consumer._client_position = lambda tp: fake.position.get(tp)
    consumer._active_partitions = {T0, T1}
    consumer.app.topics.acks_enabled_for = lambda topic: acks
    fake.fetches([])
    return consumer, fake


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


def test_app_uses_the_fetch_guard_consumer() -> None:
    app = StreamrecApp("delivery-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    assert app.transport.Consumer is FetchGuardConsumer


def test_the_broker_consumer_waits_the_apps_fetch_wait_not_fausts() -> None:
    # Faust builds it with a fixed 1.5 s wait (starves busy partitions: test_fetch_wait.py).
    async def build(wait_ms: float | None) -> Any:
        app = StreamrecApp(
            "delivery-test",
            broker="kafka://127.0.0.1:1",
            autodiscover=False,
            fetch_max_wait_ms=wait_ms,
        )
        return app.consumer._thread._create_worker_consumer(app.transport)

    assert asyncio.run(build(20.0))._fetch_max_wait_ms == 20
    assert asyncio.run(build(None))._fetch_max_wait_ms == 1500  # Faust's own, if not set


def test_the_app_builds_the_tuned_consumer_thread_with_a_one_second_hold() -> None:
    # Its on_start holds fetched records (tests/broker/test_fetch_starvation.py).
    app = StreamrecApp("delivery-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    assert isinstance(app.consumer._thread, TunedConsumerThread)
    assert app.prefetch_hold_s == PREFETCH_HOLD_S == 1.0


def test_a_fetch_is_delivered_in_order_skipping_read_offsets() -> None:
    async def scenario() -> None:
        consumer, fake = _consumer()
        consumer._read_offset[T0] = 5  # offsets below 5 were delivered before
        fake.fetches([(T0, 4), (T0, 5), (T1, 0), (T0, 6), (T1, 1)])
        await consumer._deliver_fetch()
        assert fake.offsets(T0) == [5, 6] and fake.offsets(T1) == [0, 1]
        assert consumer._read_offset[T0] == 6 and consumer._read_offset[T1] == 1

    asyncio.run(scenario())


def test_a_record_beyond_the_expected_offset_is_fetched_again_before_a_gap_is_accepted() -> None:
    async def scenario() -> None:
        consumer, fake = _consumer()
        fake.fetches([(T0, 10), (T0, 11), (T0, 20), (T0, 21)])
        await consumer._deliver_fetch()
        # 12..19 were not seen: the partition is sought back to 12 and its records wait.
        assert fake.offsets() == [10, 11] and fake.seeks == [(T0, 12)]
        # The fetch from 12 starts at 20 again: a real gap (e.g. compaction), accepted.
        fake.fetches([(T0, 20), (T0, 21)])
        await consumer._deliver_fetch()
        assert fake.offsets() == [10, 11, 20, 21] and fake.seeks == [(T0, 12)]

    asyncio.run(scenario())


def test_after_a_seek_to_committed_the_first_record_must_be_the_committed_one() -> None:
    async def scenario() -> None:
        consumer, fake = _consumer()
        consumer._committed_offset[T0] = 1116  # what recovery sought the partition to
        fake.fetches([(T0, 1207), (T0, 1208)])
        await consumer._deliver_fetch()
        assert fake.offsets() == [] and fake.seeks == [(T0, 1116)]
        fake.fetches([(T0, 1116), (T0, 1117)])
        await consumer._deliver_fetch()
        assert fake.offsets() == [1116, 1117]

    asyncio.run(scenario())


def test_a_partition_sought_during_delivery_keeps_the_seeks_position() -> None:
    async def scenario() -> None:
        consumer: Any = None

        async def rewind_at_zero(message: _Msg) -> None:
            if message.tp == T0 and message.offset == 0 and not fake.seeks:
                await consumer.seek(T0, 0)  # recovery rewinds while the fetch is delivered

        consumer, fake = _consumer(on_deliver=rewind_at_zero)
        fake.fetches([(T0, 0), (T0, 1), (T0, 2), (T1, 0), (T1, 1)])
        await consumer._deliver_fetch()
        assert fake.offsets(T0) == [0]  # 1 and 2 came from the old position
        assert fake.offsets(T1) == [0, 1]  # the other partition goes on
        fake.fetches([(T0, 0), (T0, 1)])
        await consumer._deliver_fetch()
        assert fake.offsets(T0) == [0, 0, 1]
        assert fake.seeks == [(T0, 0)]  # no rewind: the seek's position stood

    asyncio.run(scenario())


def test_records_a_cancelled_delivery_did_not_reach_are_fetched_again() -> None:
    async def scenario() -> None:
        blocked = asyncio.Event()

        async def block_at_one(message: _Msg) -> None:
            if message.offset == 1 and not fake.seeks:
                await blocked.wait()  # a full stream buffer while a rebalance suspends

        consumer, fake = _consumer(on_deliver=block_at_one)
        fake.fetches([(T0, 0), (T0, 1), (T0, 2)])
        fake.position[T0] = 3  # the client counts the whole fetch consumed
        task = asyncio.ensure_future(consumer._deliver_fetch())
        await _until(lambda: fake.offsets() == [0])
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        fake.fetches([])
        await consumer._deliver_fetch()
        assert fake.seeks == [(T0, 1)] and consumer.rewinds == 1
        fake.fetches([(T0, 1), (T0, 2)])
        await consumer._deliver_fetch()
        assert fake.offsets() == [0, 1, 2]

    asyncio.run(scenario())


def test_a_fetch_cancelled_in_flight_is_finished_and_its_records_fetched_again() -> None:
    async def scenario() -> None:
        consumer, fake = _consumer()
        gate = asyncio.Event()
        fake.fetches([(T0, 0), (T0, 1), (T1, 7)], gate=gate)
        fake.position.update({T0: 2, T1: 8})
        task = asyncio.ensure_future(consumer._deliver_fetch())
        await asyncio.sleep(0.01)
        task.cancel()  # the flow is suspended while the fetch waits in the consumer thread
        await asyncio.gather(task, return_exceptions=True)
        gate.set()  # ... and it returns records afterwards, counted consumed by the client
        fake.fetches([])
        await consumer._deliver_fetch()
        assert sorted(fake.seeks) == [(T0, 0), (T1, 7)]
        assert fake.delivered == []

    asyncio.run(scenario())


def test_no_rewind_for_a_partition_sought_since_revoked_or_not_past_the_records() -> None:
    async def scenario() -> None:
        blocked = asyncio.Event()

        async def block(message: _Msg) -> None:
            await blocked.wait()

        for case in ("sought", "revoked", "reset"):
            consumer, fake = _consumer(on_deliver=block)
            fake.fetches([(T0, 5), (T0, 6)])
            fake.position[T0] = 7
            task = asyncio.ensure_future(consumer._deliver_fetch())
            await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if case == "sought":
                await consumer.seek(T0, 3)  # recovery's seek stands
            elif case == "revoked":
                fake.assigned.discard(T0)
            else:
                fake.position[T0] = 2  # reassigned: reset to its committed offset
            fake.seeks.clear()
            fake.fetches([])
            await consumer._deliver_fetch()
            assert fake.seeks == [], case

    asyncio.run(scenario())


def test_records_of_a_partition_paused_during_delivery_are_fetched_again() -> None:
    async def scenario() -> None:
        consumer: Any = None

        async def pause_t1(message: _Msg) -> None:
            if message.tp == T0:
                consumer.pause_partitions([T1])

        consumer, fake = _consumer(on_deliver=pause_t1)
        fake.fetches([(T0, 0), (T1, 4), (T1, 5)])
        fake.position.update({T0: 1, T1: 6})
        await consumer._deliver_fetch()
        assert fake.offsets(T1) == []
        await consumer._deliver_fetch()
        assert fake.seeks == [(T1, 4)]

    asyncio.run(scenario())


def test_a_seek_waits_for_the_fetch_in_flight() -> None:
    async def scenario() -> None:
        consumer, fake = _consumer()
        gate = asyncio.Event()
        fake.fetches([(T0, 0)], gate=gate)
        fetch = asyncio.ensure_future(consumer._deliver_fetch())
        await asyncio.sleep(0.01)
        seek = asyncio.ensure_future(consumer.seek(T0, 0))
        await asyncio.sleep(0.01)
        assert fake.seeks == [] and not seek.done()  # the fetch is still in flight
        gate.set()
        await asyncio.gather(fetch, seek)
        assert fake.seeks == [(T0, 0)]
        # The seek came after the fetch had returned: its position stands for the record,
        # which is delivered by the next fetch if the seek won the race to it.
        fake.fetches([(T0, 0)])
        await consumer._deliver_fetch()
        assert fake.offsets() == [0] and fake.seeks == [(T0, 0)]

    asyncio.run(scenario())


def test_an_inbox_topic_gets_its_messages_tracked_in_its_inbox_not_through_the_callback() -> None:
    async def scenario() -> None:
        consumer, fake = _consumer()
        inbox = consumer.app.inboxes["t"] = Inbox(max_size=10)
        fake.fetches([(T0, 0), (T1, 0), (T0, 1)])
        await consumer._deliver_fetch()
        assert fake.delivered == []  # Faust's conductor never saw them
        batch = await inbox.take(linger_s=0.0)
        assert [(m.tp, m.offset) for m in batch] == [(T0, 0), (T1, 0), (T0, 1)]
        assert all(m.tracked for m in batch)  # Faust waits for them before a revoke
        assert set(consumer._unacked_messages) == set(batch)
        assert consumer._read_offset[T0] == 1 and consumer._read_offset[T1] == 0

    asyncio.run(scenario())


def test_a_delivery_waiting_on_a_full_inbox_is_cancelled_and_the_rest_fetched_again() -> None:
    async def scenario() -> None:
        consumer, fake = _consumer()
        inbox = consumer.app.inboxes["t"] = Inbox(max_size=2, cap=2)
        fake.fetches([(T0, 0), (T0, 1), (T0, 2), (T0, 3)])
        fake.position[T0] = 4
        task = asyncio.ensure_future(consumer._deliver_fetch())
        await _until(lambda: len(inbox) == 2)
        await asyncio.sleep(0.01)
        assert not task.done() and len(inbox) == 2  # waits for room, takes no more
        task.cancel()  # a rebalance suspends the flow
        await asyncio.gather(task, return_exceptions=True)
        fake.fetches([])
        await consumer._deliver_fetch()
        assert fake.seeks == [(T0, 2)]  # the two in the inbox stay delivered
        assert [m.offset for m in await inbox.take(0.0)] == [0, 1]

    asyncio.run(scenario())
