"""Micro-batches of one topic's messages, straight from the fetch to the handler.

The consumer (:class:`~streamrec.stream.transport.delivery.FetchGuardConsumer`) puts the
messages of an inbox topic into its :class:`Inbox` as it delivers a fetch: no Faust
``Event``, channel or stream per message. Faust still tracks every message (it waits for
the unacked ones before a rebalance revokes partitions) and commits from our acks, so
commits, rebalances, recovery and standbys stay Faust's.

``consume_batches`` takes up to ``max_size`` messages from the inbox, waiting at most
``linger_s`` counted from the arrival of the oldest waiting message: messages that came in
while the previous batch was handled have already waited, so under load batches leave
full and at once, and at low rates a message waits ``linger_s`` at most. Once the inbox holds
``cap`` messages the fetch's delivery waits for room (a rebalance's suspension cancels that
wait; the fetch's records not yet added are fetched again).

Each message is acknowledged only after the batch that holds it was handled *and*
everything the batch produced was delivered: ``handle`` returns an awaitable that settles
when the broker has acknowledged the batch's records (:mod:`streamrec.stream.serving.outbox`).
A second task awaits those in batch order and acks, so delivery overlaps the handling of the
next batches (at most ``max_unsettled`` of them) and Faust never commits an offset whose
effects could be lost. If a delivery fails, nothing after it is acknowledged and the agent
fails; unacked messages are simply replayed after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from faust.types import Message

# handle(batch) -> an awaitable that completes when the batch's output is delivered (or None)
Handler = Callable[[Sequence[Message]], Awaitable[Awaitable[None] | None]]


class Inbox:
    """Messages of one topic waiting for their batch, in delivery order."""

    def __init__(self, max_size: int, cap: int | None = None) -> None:
        self.max_size = max_size
        self.cap = cap or 4 * max_size
        self.pending: deque[tuple[float, Message]] = deque()  # (arrival, message)
        self.arrived = asyncio.Event()
        self.full = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, message: Message) -> None:
        """Add ``message`` (no wait: the consumer's bookkeeping follows at once)."""
        pending = self.pending
        pending.append((time.monotonic(), message))
        self.arrived.set()
        if len(pending) >= self.max_size:
            self.full.set()

    @property
    def crowded(self) -> bool:
        """True while the inbox holds ``cap`` messages or more: the delivery should wait."""
        return len(self.pending) >= self.cap

    async def wait_room(self) -> None:
        """Wait until the inbox holds fewer than ``cap`` messages."""
        while len(self.pending) >= self.cap:
            self.room.clear()
            await self.room.wait()

    async def take(self, linger_s: float) -> list[Message]:
        """The next batch: up to ``max_size`` messages, the oldest waited ``linger_s`` at most."""
        pending = self.pending
        while not pending:
            self.arrived.clear()
            await self.arrived.wait()
        wait = pending[0][0] + linger_s - time.monotonic()
        if wait > 0 and len(pending) < self.max_size:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.full.wait(), wait)
        batch = [pending.popleft()[1] for _ in range(min(len(pending), self.max_size))]
        if not pending:
            self.arrived.clear()
        if len(pending) < self.max_size:
            self.full.clear()
        if len(pending) < self.cap:
            self.room.set()
        return batch


async def consume_batches(
    inbox: Inbox,
    handle: Handler,
    ack: Callable[[Message], object],
    linger_s: float = 0.0,
    max_unsettled: int = 8,
) -> None:
    """Take batches from ``inbox`` and call ``handle`` on each until it fails.

    ``ack``: marks a message done for Faust's commits (``app.consumer.ack``).
    ``max_unsettled``: handled batches whose output may still be in flight.
    """
    unsettled: asyncio.Queue[tuple[list[Message], Awaitable[None] | None]] = asyncio.Queue(
        max_unsettled
    )

    async def process() -> None:
        while True:
            batch = await inbox.take(linger_s)
            delivered = await handle(batch)
            await unsettled.put((batch, delivered))

    async def acknowledge() -> None:
        while True:
            batch, delivered = await unsettled.get()
            if delivered is not None:
                await delivered  # raises if a record was lost: nothing more is acked
            for message in batch:
                ack(message)

    tasks = [asyncio.ensure_future(f()) for f in (process, acknowledge)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a failed handler fails the agent (Faust logs and restarts it)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
