"""Micro-batches from a Faust stream that keep filling while the previous batch is processed.

Faust's ``take_events`` stops adding to its buffer while the agent handles a batch, and only
then starts the ``within`` window for the next one. Here one task reads the stream (manual
acks) into a queue all the time and another takes up to ``max_size`` events from it, waiting
at most ``linger_s`` counted from the arrival of the oldest waiting event: events that came
in while the previous batch was handled have already waited, so under load batches leave
full and at once, and at low rates an event waits ``linger_s`` at most.

Each event is acknowledged only after the batch that holds it was handled *and* everything
the batch produced was delivered: ``handle`` returns an awaitable that settles when the
broker has acknowledged the batch's records (:mod:`streamrec.stream.serving.outbox`). A third task
awaits those in batch order and acks, so delivery overlaps the handling of the next batches (at most
``max_unsettled`` of them) and Faust never commits an offset whose effects could be lost. If a
delivery fails, nothing after it is acknowledged and the agent fails; unacked events are simply
replayed after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from faust.streams import Stream
from faust.types import EventT, StreamT

# handle(batch) -> an awaitable that completes when the batch's output is delivered (or None)
Handler = Callable[[Sequence[EventT[bytes]]], Awaitable[Awaitable[None] | None]]


async def consume_batches(
    stream: StreamT[bytes],
    handle: Handler,
    max_size: int,
    linger_s: float = 0.0,
    max_pending: int | None = None,
    max_unsettled: int = 8,
) -> None:
    """Read ``stream`` and call ``handle`` on micro-batches until the stream ends or fails.

    ``linger_s``: longest wait of an event for its batch to fill (0: take what is there).
    ``max_pending``: events read ahead of the handler before reading pauses.
    ``max_unsettled``: handled batches whose output may still be in flight.
    """
    manual = cast(Stream[bytes], stream).noack()
    pending: deque[tuple[float, EventT[bytes]]] = deque()  # (arrival, event)
    cap = max_pending or 4 * max_size
    arrived = asyncio.Event()
    full = asyncio.Event()
    room = asyncio.Event()
    room.set()
    clock = time.monotonic
    unsettled: asyncio.Queue[tuple[list[EventT[bytes]], Awaitable[None] | None]] = asyncio.Queue(
        max_unsettled
    )

    async def collect() -> None:
        async for event in manual.events():
            pending.append((clock(), event))
            arrived.set()
            if len(pending) >= max_size:
                full.set()
            if len(pending) >= cap:
                room.clear()
                await room.wait()

    async def process() -> None:
        while True:
            await arrived.wait()
            wait = pending[0][0] + linger_s - clock()
            if wait > 0 and len(pending) < max_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(full.wait(), wait)
            batch = [pending.popleft()[1] for _ in range(min(len(pending), max_size))]
            if not pending:
                arrived.clear()
            if len(pending) < max_size:
                full.clear()
            if len(pending) < cap:
                room.set()
            delivered = await handle(batch)
            await unsettled.put((batch, delivered))

    async def acknowledge() -> None:
        while True:
            batch, delivered = await unsettled.get()
            if delivered is not None:
                await delivered  # raises if a record was lost: nothing more is acked
            for event in batch:
                await manual.ack(event)

    tasks = [asyncio.ensure_future(f()) for f in (collect, process, acknowledge)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a failed handler fails the agent (Faust logs and restarts it)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
