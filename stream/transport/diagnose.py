"""``kill -USR1 <worker pid>``: log where every task of the worker waits, and the consumer's state.

For a worker that is alive but makes no progress: the stacks of its asyncio tasks show what
each one awaits, and the consumer's view (flow, paused partitions, read, committed and
expected offsets, messages not yet acked) shows which partition holds it back.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

log = logging.getLogger(__name__)

_FRAMES = 12  # innermost frames shown per task


def dump(app: Any) -> None:
    """Log the consumer's state and where each task waits (innermost frames, no locals)."""
    out = io.StringIO()
    out.write("diagnostic dump (SIGUSR1)\n")
    try:
        out.write(consumer_state(app))
    except Exception as exc:  # a dump must never take the worker down
        out.write(f"consumer state unavailable: {exc!r}\n")
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        tasks = asyncio.all_tasks(loop)
    except RuntimeError as exc:
        out.write(f"tasks unavailable: {exc!r}\n")
        tasks = set()
    out.write(f"{len(tasks)} tasks\n")
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.write(f"--- {task.get_name()} {task.get_coro()!r}\n")
        task.print_stack(limit=_FRAMES, file=out)
    log.warning("%s", out.getvalue())


def consumer_state(app: Any) -> str:
    """One line per assigned partition: paused, read, committed, expected, unacked."""
    consumer = app.consumer
    lines = [
        f"flow active: {consumer.flow_active}; "
        f"faust paused: {_names(getattr(consumer, '_paused_partitions', ()))}; "
        f"faust active: {_names(getattr(consumer, '_active_partitions', None) or ())}\n"
    ]
    driver = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    assigned = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
    paused = set(driver.paused()) if driver is not None else set()
    positions = getattr(consumer, "positions", None)
    expected = positions.expected if positions is not None else {}
    unacked: dict[Any, int] = {}
    for message in list(consumer._unacked_messages):
        unacked[message.tp] = unacked.get(message.tp, 0) + 1
    for tp in assigned:
        lines.append(
            f"{tp.topic}[{tp.partition}] paused={tp in paused} "
            f"read={consumer._read_offset.get(tp)} "
            f"committed={consumer._committed_offset.get(tp)} "
            f"expected={expected.get(tp)} unacked={unacked.get(tp, 0)} "
            f"acked={len(consumer._acked.get(tp, ()))} client: {_client_state(driver, tp)}\n"
        )
    if positions is not None:
        lines.append(
            f"refetches: {getattr(consumer, 'refetches', 0)}, "
            f"rewinds: {getattr(consumer, 'rewinds', 0)}\n"
        )
    return "".join(lines)


def _names(tps: Any) -> str:
    return ",".join(sorted(f"{tp.topic.rsplit('-', 1)[-1]}[{tp.partition}]" for tp in tps))


def _client_state(driver: Any, tp: Any) -> str:
    """The broker client's own view of ``tp``: position, status, buffered fetch."""
    try:
        assignment = driver._subscription.subscription.assignment
        state = assignment.state_value(tp)
        fetcher = driver._fetcher
        buffered = fetcher._records.get(tp)
        return (
            f"position={state._position} status={state._status.name} "
            f"paused={state._paused} highwater={state.highwater} "
            f"buffered={type(buffered).__name__ if buffered is not None else None}"
        )
    except Exception as exc:  # internals differ: say so instead of failing the dump
        return f"unavailable ({type(exc).__name__})"
