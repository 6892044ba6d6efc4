"""Unit tier: the fetch-guarded consumer delivers each fetch in order, once, with plain awaits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faust.types import TP

from stream.delivery import FetchGuardConsumer, StreamrecApp

pytestmark = pytest.mark.unit


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
