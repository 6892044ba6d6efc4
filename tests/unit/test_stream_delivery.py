"""Unit tier: the fetch-guarded consumer delivers each fetch in order, once, with plain awaits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from faust.types import TP

from streamrec.stream.transport.delivery import FetchGuardConsumer, StreamrecApp


class _Msg:
    def __init__(self, topic: str, offset: int) -> None:
        self.topic = topic
        self.offset = offset


def test_app_uses_the_fetch_guard_consumer() -> None:
    app = StreamrecApp("delivery-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    assert app.transport.Consumer is FetchGuardConsumer


def test_a_fetch_is_delivered_in_order_skipping_read_offsets() -> None:
    async def scenario() -> list[tuple[int, int]]:
        app = StreamrecApp("delivery-test", broker="kafka://127.0.0.1:1", autodiscover=False)
        consumer: Any = app.consumer
        delivered: list[tuple[int, int]] = []
        tp0, tp1 = TP("t", 0), TP("t", 1)
        consumer._read_offset[tp0] = 5  # offsets below 5 were delivered before

        async def getmany(timeout: float) -> AsyncIterator[tuple[TP, _Msg]]:
            for tp, offset in [(tp0, 4), (tp0, 5), (tp1, 0), (tp0, 6), (tp1, 1)]:
                yield tp, _Msg("t", offset)

        async def callback(message: _Msg) -> None:
            delivered.append((len(delivered), message.offset))

        consumer.getmany = getmany
        consumer.callback = callback
        await consumer._deliver_fetch()
        assert consumer._read_offset[tp0] == 6
        assert consumer._read_offset[tp1] == 1
        return delivered

    assert [o for _, o in asyncio.run(scenario())] == [5, 0, 6, 1]


def _consumer_with(
    offsets: list[tuple[TP, int]], acks: bool = True
) -> tuple[Any, list[int], list[Any]]:
    app = StreamrecApp("delivery-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    consumer: Any = app.consumer
    delivered: list[int] = []
    seeks: list[Any] = []

    async def getmany(timeout: float) -> AsyncIterator[tuple[TP, _Msg]]:
        for tp, offset in list(offsets):
            yield tp, _Msg("t", offset)

    async def callback(message: _Msg) -> None:
        delivered.append(message.offset)

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    consumer.getmany = getmany
    consumer.callback = callback
    consumer._seek = seek
    consumer.app.topics.acks_enabled_for = lambda topic: acks
    return consumer, delivered, seeks


def test_a_record_beyond_the_expected_offset_is_fetched_again_before_a_gap_is_accepted() -> None:
    async def scenario() -> None:
        tp = TP("t", 0)
        consumer, delivered, seeks = _consumer_with([(tp, 10), (tp, 11), (tp, 20), (tp, 21)])
        await consumer._deliver_fetch()
        # 12..19 were not seen: the partition is sought back to 12 and the fetch ends.
        assert delivered == [10, 11] and seeks == [(tp, 12)]
        # The fetch from 12 starts at 20 again: a real gap (e.g. compaction), accepted.
        consumer.getmany = _replay([(tp, 20), (tp, 21)])
        await consumer._deliver_fetch()
        assert delivered == [10, 11, 20, 21] and seeks == [(tp, 12)]

    asyncio.run(scenario())


def test_after_a_seek_to_committed_the_first_record_must_be_the_committed_one() -> None:
    async def scenario() -> None:
        tp = TP("t", 0)
        consumer, delivered, seeks = _consumer_with([(tp, 1207), (tp, 1208)])
        consumer._committed_offset[tp] = 1116  # what recovery sought the partition to
        await consumer._deliver_fetch()
        assert delivered == [] and seeks == [(tp, 1116)]
        consumer.getmany = _replay([(tp, 1116), (tp, 1117)])
        await consumer._deliver_fetch()
        assert delivered == [1116, 1117]

    asyncio.run(scenario())


def test_a_seek_during_a_fetch_drops_the_rest_of_it() -> None:
    async def scenario() -> None:
        tp = TP("t", 0)
        consumer, delivered, _ = _consumer_with([(tp, 0), (tp, 1), (tp, 2)])

        async def callback(message: _Msg) -> None:
            delivered.append(message.offset)
            if message.offset == 0:
                await consumer.seek(tp, 0)  # recovery rewinds while the fetch is delivered

        consumer.callback = callback
        await consumer._deliver_fetch()
        assert delivered == [0]  # 1 and 2 came from the old position
        # The seek's position stands: record 0 is delivered again by the next fetch.
        assert consumer._read_offset[tp] is None or consumer._read_offset[tp] == 0
        consumer.getmany = _replay([(tp, 0), (tp, 1)])
        consumer.callback = lambda message: _append(delivered, message)
        await consumer._deliver_fetch()
        assert delivered == [0, 0, 1]

    asyncio.run(scenario())


def _replay(offsets: list[tuple[TP, int]]) -> Any:
    async def getmany(timeout: float) -> AsyncIterator[tuple[TP, _Msg]]:
        for tp, offset in offsets:
            yield tp, _Msg("t", offset)

    return getmany


async def _append(out: list[int], message: _Msg) -> None:
    out.append(message.offset)
