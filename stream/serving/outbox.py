"""Every record a micro-batch produces, tracked until the broker has it.

A batch's events are acknowledged (so Faust may commit past them) only after every record
the batch produced (recommendations, dead letters, forwards to the repartition topic,
changelog records of its state writes) is acknowledged by the broker. The producer retries
retriable errors itself (idempotently, for as long as ``send_timeout_s``); a record that
still fails is *fatal*: :class:`Health` turns unhealthy, the failure is counted, nothing
after it is acknowledged, and the worker stops with a non-zero exit so that its supervisor
restarts it. The restart replays from the last commit and the offsets stored in each
user's state keep the replay from applying anything twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from streamrec.stream.serving.metrics import Metrics

log = logging.getLogger(__name__)


class SendFailedError(RuntimeError):
    """A record could not be delivered within the producer's timeout (fatal)."""

    def __init__(self, output: str, topic: str, cause: BaseException) -> None:
        super().__init__(f"{output} record to {topic} failed: {type(cause).__name__}: {cause}")
        self.output = output
        self.topic = topic
        self.cause = cause


@dataclass
class Health:
    """The worker's liveness: the first fatal error, if any (``/health`` reports it)."""

    fatal: str | None = None
    on_fatal: list[Callable[[BaseException], Awaitable[None]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No fatal error so far."""
        return self.fatal is None

    async def fail(self, exc: BaseException) -> None:
        """Record a fatal error (the first one wins) and run the fatal hooks once."""
        if self.fatal is not None:
            return
        self.fatal = str(exc)
        log.critical("fatal: %s; stopping the worker (exit non-zero)", exc)
        for hook in self.on_fatal:
            await hook(exc)


@dataclass(frozen=True, slots=True)
class Pending:
    """One tracked send: which output it belongs to and its delivery future."""

    output: str  # recommendation, dead_letter, forward, changelog
    topic: str
    future: asyncio.Future[Any]


class Outbox:
    """Where the batches' sends report their failures (one per worker)."""

    def __init__(self, metrics: Metrics, health: Health) -> None:
        self.metrics = metrics
        self.health = health

    def batch(self) -> Sends:
        """A fresh collector for one micro-batch's sends."""
        return Sends(self)

    async def failed(self, output: str, topic: str, exc: BaseException) -> SendFailedError:
        """Count a lost record, make the worker unhealthy; the error to raise."""
        self.metrics.send_failures.labels(output).inc()
        error = SendFailedError(output, topic, exc)
        await self.health.fail(error)
        return error


class Sends:
    """The delivery futures of one micro-batch (each agent's batch has its own)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.pending: list[Pending] = []

    def track(self, output: str, topic: str, future: asyncio.Future[Any]) -> None:
        """Remember ``future`` as part of this batch."""
        self.pending.append(Pending(output, topic, future))

    async def send(self, producer: Any, output: str, topic: str, *args: Any) -> None:
        """``producer.send(topic, *args)`` and track its future; a refused send is fatal."""
        try:
            future = await producer.send(topic, *args)
        except Exception as exc:  # e.g. metadata timeout, record too large: the record is lost
            raise await self.outbox.failed(output, topic, exc) from exc
        self.track(output, topic, future)

    def settled(self) -> asyncio.Future[None] | None:
        """A task that completes when every send was delivered (None: nothing was sent)."""
        if not self.pending:
            return None
        return asyncio.ensure_future(self._settle(self.pending))

    async def _settle(self, pending: list[Pending]) -> None:
        for p in pending:
            try:
                await p.future
            except Exception as exc:
                raise await self.outbox.failed(p.output, p.topic, exc) from exc
