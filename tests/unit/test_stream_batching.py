"""Unit tier: an inbox batches messages by size and linger; acks follow delivery, in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from streamrec.stream.transport.batching import Inbox, consume_batches


class _Msg:
    def __init__(self, offset: int) -> None:
        self.offset = offset


def _fill(inbox: Inbox, offsets: range) -> None:
    for offset in offsets:
        inbox.add(_Msg(offset))  # type: ignore[arg-type]


def _offsets(batch: Sequence[Any]) -> list[int]:
    return [m.offset for m in batch]


def test_a_full_batch_leaves_at_once_and_the_rest_waits_its_linger() -> None:
    async def scenario() -> None:
        inbox = Inbox(max_size=3)
        _fill(inbox, range(5))
        started = time.monotonic()
        assert _offsets(await inbox.take(linger_s=5.0)) == [0, 1, 2]
        assert time.monotonic() - started < 1.0  # full: no linger
        started = time.monotonic()
        assert _offsets(await inbox.take(linger_s=0.05)) == [3, 4]
        assert time.monotonic() - started >= 0.04  # not full: waited for more

    asyncio.run(scenario())


def test_a_message_that_completes_a_batch_ends_the_linger() -> None:
    async def scenario() -> None:
        inbox = Inbox(max_size=2)
        _fill(inbox, range(1))
        take = asyncio.ensure_future(inbox.take(linger_s=5.0))
        await asyncio.sleep(0.01)
        assert not take.done()
        _fill(inbox, range(1, 2))
        assert _offsets(await asyncio.wait_for(take, 1.0)) == [0, 1]

    asyncio.run(scenario())


def test_room_opens_when_a_batch_is_taken() -> None:
    async def scenario() -> None:
        inbox = Inbox(max_size=2, cap=3)
        _fill(inbox, range(3))
        assert inbox.crowded
        waiter = asyncio.ensure_future(inbox.wait_room())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await inbox.take(0.0)
        await asyncio.wait_for(waiter, 1.0)
        assert not inbox.crowded

    asyncio.run(scenario())


def test_messages_are_acked_in_order_only_after_their_batch_was_delivered() -> None:
    async def scenario() -> None:
        inbox = Inbox(max_size=2)
        acked: list[int] = []
        deliveries: list[asyncio.Future[None]] = []

        async def handle(batch: Sequence[Any]) -> asyncio.Future[None]:
            delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            deliveries.append(delivered)
            return delivered

        consumer = asyncio.ensure_future(
            consume_batches(inbox, handle, lambda m: acked.append(m.offset))
        )
        _fill(inbox, range(4))
        while len(deliveries) < 2:
            await asyncio.sleep(0)
        deliveries[1].set_result(None)  # the second batch is delivered first ...
        await asyncio.sleep(0.01)
        assert acked == []  # ... but waits for the first
        deliveries[0].set_result(None)
        await asyncio.sleep(0.01)
        assert acked == [0, 1, 2, 3]
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)

    asyncio.run(scenario())


def test_a_lost_delivery_acks_nothing_more_and_fails_the_agent() -> None:
    async def scenario() -> None:
        inbox = Inbox(max_size=1)
        acked: list[int] = []
        outcomes = iter([None, RuntimeError("record lost"), None])

        async def handle(batch: Sequence[Any]) -> asyncio.Future[None]:
            delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            outcome = next(outcomes)
            if outcome is None:
                delivered.set_result(None)
            else:
                delivered.set_exception(outcome)
            return delivered

        _fill(inbox, range(3))
        with pytest.raises(RuntimeError, match="record lost"):
            await asyncio.wait_for(
                consume_batches(inbox, handle, lambda m: acked.append(m.offset)), 5.0
            )
        assert acked == [0]

    asyncio.run(scenario())
