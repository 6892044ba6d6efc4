"""Raw records of one fetch -> valid events and dead letters; pure, never raises for content.

Everything a producer can put in a message ends here as either a :class:`StreamEvent` or a
:class:`DeadLetter` with its reason: :mod:`streamrec.stream.records.schemas` raises only
:class:`InvalidEventError` for bad content, and any other exception (a bug in the parser)
becomes a dead letter with reason ``internal_error`` so that it cannot halt the partition
by killing the agent on every replay. The property tests fuzz this function.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from streamrec.stream.records.parsing import parse_event, parse_repartitioned
from streamrec.stream.records.schemas import (
    DeadLetter,
    EventLimits,
    InvalidEventError,
    Reason,
    Source,
    StreamEvent,
)

log = logging.getLogger(__name__)

RawRecord = tuple[bytes | None, Source]  # (value, where it was read)


@dataclass(slots=True)
class Intake:
    """The outcome of parsing a batch of raw records, in input order."""

    valid: list[tuple[int, StreamEvent]] = field(default_factory=list)  # (input index, event)
    dead: list[DeadLetter] = field(default_factory=list)
    internal_errors: int = 0


def parse_records(
    records: Iterable[RawRecord],
    repartitioned: bool,
    limits: EventLimits,
    now: float,
    events_topic: str | None = None,
    partitions: int | None = None,
) -> Intake:
    """Validate ``records`` (input or repartition topic) against ``limits`` at clock ``now``.

    A repartition record must name a position of ``events_topic`` (below ``partitions``)
    as its source, when those are given: that is all a worker ever forwards, and it keeps
    a forged record from growing a user's offsets map.
    """
    out = Intake()
    for i, (raw, here) in enumerate(records):
        try:
            if repartitioned:
                ev = parse_repartitioned(raw, limits, now)
                _check_source(ev.source, events_topic, partitions)
            else:
                ev = parse_event(raw, here, limits, now)
        except InvalidEventError as exc:
            out.dead.append(DeadLetter.from_error(raw or b"", here, exc))
            continue
        except Exception as exc:  # a parser bug must not halt the partition: dead-letter it
            log.exception("parser failed on %s[%d]@%d", here.topic, here.partition, here.offset)
            out.internal_errors += 1
            err = InvalidEventError(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:500])
            out.dead.append(DeadLetter.from_error(raw or b"", here, err))
            continue
        out.valid.append((i, ev))
    return out


def _check_source(source: Source, events_topic: str | None, partitions: int | None) -> None:
    if events_topic is not None and source.topic != events_topic:
        raise InvalidEventError(
            Reason.INVALID_VALUE, f"source.topic is not the events topic {events_topic}"
        )
    if partitions is not None and source.partition >= partitions:
        raise InvalidEventError(
            Reason.INVALID_VALUE, f"source.partition {source.partition} >= {partitions}"
        )
