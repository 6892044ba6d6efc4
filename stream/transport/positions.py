"""Which fetched records go on to the streams: contiguous delivery per partition.

Pure bookkeeping, no Kafka: :class:`~streamrec.stream.transport.delivery.FetchGuardConsumer`
asks :meth:`Positions.admit` about each record of a fetch and does what the answer says.

A fetch returns records of several partitions, and the broker client counts every returned
record as consumed. Records a fetch could not deliver (a suspension or a rebalance cut it
short, or Faust filtered a paused partition's records out) are therefore skipped by the next
fetch: the next record of that partition is further on than the one expected. Delivering it
would let its offset mark the skipped records as applied. So the partition is fetched again
from the expected offset, and a gap is accepted only when that fetch confirms it (records
removed by compaction, transaction markers).

Fetching one partition again must not cost the others anything: the rest of the fetch is
still delivered for every other partition, and only the refetched partition's records are
passed over until its new fetch arrives. Ending the whole fetch there instead would make
every other partition skip records in turn, and under load the partitions could keep
sending each other back to refetch, delivering almost nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, Protocol, TypeVar


class Verdict(Enum):
    """What the consumer does with one fetched record."""

    DELIVER = "deliver"
    DELIVER_AFTER_GAP = "deliver after gap"  # a refetch confirmed the records before it gone
    SKIP = "skip"  # already delivered, or its partition is being fetched again
    REFETCH = "refetch"  # seek the partition back to ``Admission.want`` and fetch again


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on a record; ``want``: the offset to fetch again from, or the gap's start."""

    verdict: Verdict
    want: int = -1  # meaningful for REFETCH and DELIVER_AFTER_GAP


_DELIVER = Admission(Verdict.DELIVER)
_SKIP = Admission(Verdict.SKIP)


@dataclass(slots=True)
class Positions:
    """Next expected offset per partition, and the refetches in progress."""

    expected: dict[Hashable, int] = field(default_factory=dict)  # tp -> next offset to deliver
    probed: dict[Hashable, tuple[int, int]] = field(default_factory=dict)  # tp -> (want, found)
    refetching: set[Hashable] = field(default_factory=set)  # refetched during this fetch

    def start_fetch(self) -> None:
        """A new fetch begins: partitions refetched by the last one deliver again."""
        self.refetching.clear()

    def forget(self) -> None:
        """Every partition was sought to its committed offset: expect that next."""
        self.expected.clear()

    def sought(self, tp: Hashable, offset: int) -> None:
        """``tp`` was sought to ``offset``: that is the next record to deliver."""
        self.expected[tp] = offset

    def admit(
        self,
        tp: Hashable,
        offset: int,
        last_read: int | None,
        committed: int | None,
        tracked: bool,
    ) -> Admission:
        """Decide about the record at ``offset`` of ``tp``.

        ``last_read``: the last delivered offset (Faust's read offset); ``committed``: the
        partition's committed offset; ``tracked``: the topic's offsets are acked and
        committed (events, repartition), so a skipped record would be marked applied.
        """
        if tp in self.refetching:
            return _SKIP
        if last_read is not None and offset < last_read:
            return _SKIP  # already delivered (Faust drops these too)
        if not tracked:
            return _DELIVER
        want = self.expected.get(tp, committed)
        if want is None or offset <= want:
            self.probed.pop(tp, None)
            return _DELIVER
        if self.probed.get(tp) == (want, offset):
            del self.probed[tp]  # fetched again from ``want``: the gap is real
            return Admission(Verdict.DELIVER_AFTER_GAP, want)
        self.probed[tp] = (want, offset)
        self.refetching.add(tp)
        self.expected[tp] = want
        return Admission(Verdict.REFETCH, want)

    def delivered(self, tp: Hashable, offset: int) -> None:
        """The record at ``offset`` of ``tp`` went to its stream."""
        self.expected[tp] = offset + 1


class _Record(Protocol):
    @property
    def offset(self) -> int: ...


K = TypeVar("K", bound=Hashable)  # a topic partition


@dataclass(slots=True)
class Outstanding(Generic[K]):
    """The records of one fetch that were not handled yet, per partition.

    A fetch's records count as consumed for the broker client the moment it returns them.
    Those a delivery did not get to (a suspension cancelled it, the partition was paused
    meanwhile, the generation changed) must be fetched again, or the partition's position
    stands after them and they are never delivered: the worker rewinds such a partition to
    :meth:`left`'s offset before its next fetch (see :func:`rewind_target`).
    """

    seq: int  # seeks done when the fetch returned (a later seek of a partition wins)
    next: dict[K, int] = field(default_factory=dict)  # tp -> first offset not handled
    last: dict[K, int] = field(default_factory=dict)  # tp -> last offset fetched

    @classmethod
    def of(cls, records: Mapping[K, Sequence[_Record]], seq: int) -> Outstanding[K]:
        """Every record of ``records`` (tp -> records in offset order) outstanding."""
        ahead = {tp: rs for tp, rs in records.items() if rs}
        return cls(
            seq,
            {tp: rs[0].offset for tp, rs in ahead.items()},
            {tp: rs[-1].offset for tp, rs in ahead.items()},
        )

    def handled(self, tp: K, offset: int) -> None:
        """The record at ``offset`` of ``tp`` was delivered, or deliberately passed over."""
        self.next[tp] = offset + 1

    def left(self) -> dict[K, int]:
        """The first offset not handled of each partition that has records left."""
        return {tp: o for tp, o in self.next.items() if o <= self.last[tp]}


def rewind_target(
    first_unhandled: int, position: int | None, assigned: bool, sought_since: bool
) -> int | None:
    """Where to seek a partition whose fetched records from ``first_unhandled`` on were lost.

    Only backwards: a partition that was sought since (by recovery, by a rebalance's seek to
    the committed offsets) keeps the seek's position, and one whose client position is
    already at or before the lost records (reset to its committed offset on reassignment)
    gets them again anyway; seeking it forward would skip records never handled. ``None``:
    leave the partition as it is.
    """
    if not assigned or sought_since or position is None or position <= first_unhandled:
        return None
    return first_unhandled
