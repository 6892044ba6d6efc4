"""Contiguous delivery per partition: the verdicts of ``transport.positions`` on fetched records.

``Consumption`` models what the broker client does with positions (a fetch hands out the
records from each partition's position and counts them consumed; a seek moves one position),
and ``deliver`` follows the verdicts the way ``FetchGuardConsumer._deliver_fetch`` does.
"""

from __future__ import annotations

from collections.abc import Iterator

from streamrec.stream.transport.positions import Outstanding, Positions, Verdict, rewind_target


class Consumption:
    """Partitions of offsets, a position per partition, fetches of up to ``size`` records."""

    def __init__(self, logs: dict[str, list[int]], size: int = 10) -> None:
        self.logs = logs
        self.position = {tp: offsets[0] for tp, offsets in logs.items()}
        self.size = size

    def fetch(self) -> Iterator[tuple[str, int]]:
        """One fetch, round robin over partitions (as Faust iterates); all counted consumed."""
        taken = {}
        for tp, offsets in self.logs.items():
            ahead = [o for o in offsets if o >= self.position[tp]][: self.size]
            if ahead:
                self.position[tp] = ahead[-1] + 1
                taken[tp] = ahead
        for i in range(max((len(v) for v in taken.values()), default=0)):
            for tp, records in taken.items():
                if i < len(records):
                    yield tp, records[i]

    def seek(self, tp: str, offset: int) -> None:
        self.position[tp] = offset


def deliver(
    consumption: Consumption,
    positions: Positions,
    committed: dict[str, int],
    delivered: dict[str, list[int]],
    gaps: list[tuple[str, int, int]],
) -> None:
    """One fetch: act on each record's verdict."""
    positions.start_fetch()
    for tp, offset in consumption.fetch():
        last = delivered[tp][-1] if delivered[tp] else None
        admission = positions.admit(tp, offset, last, committed[tp], tracked=True)
        if admission.verdict is Verdict.SKIP:
            continue
        if admission.verdict is Verdict.REFETCH:
            consumption.seek(tp, admission.want)
            continue
        if admission.verdict is Verdict.DELIVER_AFTER_GAP:
            gaps.append((tp, admission.want, offset))
        delivered[tp].append(offset)
        positions.delivered(tp, offset)


def test_a_refetch_costs_only_its_own_partition() -> None:
    """A fetch cut short skipped records of every partition: all come back, in order, at once.

    Ending the whole fetch at the first refetch (instead of passing over that partition only)
    makes the other partitions skip records in turn; then most fetches deliver next to nothing.
    """
    tps = [f"events-{p}" for p in range(4)]
    consumption = Consumption({tp: list(range(200)) for tp in tps}, size=10)
    committed = dict.fromkeys(tps, 0)
    positions = Positions()
    for tp, _ in list(consumption.fetch()):  # a fetch nobody delivered: 0..9 consumed, lost
        assert consumption.position[tp] == 10
    delivered: dict[str, list[int]] = {tp: [] for tp in tps}
    gaps: list[tuple[str, int, int]] = []
    fetches = 0
    while any(len(v) < 200 for v in delivered.values()):
        fetches += 1
        assert fetches <= 25, f"{fetches} fetches, delivered {[len(v) for v in delivered.values()]}"
        deliver(consumption, positions, committed, delivered, gaps)
    assert delivered == {tp: list(range(200)) for tp in tps}
    assert gaps == []
    assert fetches <= 22  # 20 fetches of 10 records, and the refetch of each partition


def test_later_records_of_a_refetched_partition_wait_for_its_new_fetch() -> None:
    positions = Positions()
    positions.start_fetch()
    first = positions.admit("p", 7, None, 5, tracked=True)
    assert (first.verdict, first.want) == (Verdict.REFETCH, 5)
    assert positions.admit("p", 8, None, 5, tracked=True).verdict is Verdict.SKIP
    assert positions.admit("q", 3, None, 3, tracked=True).verdict is Verdict.DELIVER
    positions.start_fetch()
    assert positions.admit("p", 5, None, 5, tracked=True).verdict is Verdict.DELIVER


def test_a_gap_is_accepted_once_the_refetch_confirms_it() -> None:
    """Compacted records: the fetch from the expected offset starts at the same place again."""
    consumption = Consumption({"p": [*range(10), *range(15, 20)]}, size=100)
    positions = Positions()
    delivered: dict[str, list[int]] = {"p": list(range(10))}
    positions.delivered("p", 9)
    consumption.seek("p", 10)
    gaps: list[tuple[str, int, int]] = []
    deliver(consumption, positions, {"p": 0}, delivered, gaps)
    assert delivered["p"] == list(range(10))  # refetching from 10
    deliver(consumption, positions, {"p": 0}, delivered, gaps)
    assert delivered["p"] == [*range(10), *range(15, 20)]
    assert gaps == [("p", 10, 15)]


def test_untracked_and_already_delivered_records() -> None:
    positions = Positions()
    positions.start_fetch()
    # A changelog record (offsets not committed): delivered wherever it is.
    assert positions.admit("c", 50, None, 0, tracked=False).verdict is Verdict.DELIVER
    # Offsets below the last read were delivered already.
    assert positions.admit("p", 3, 4, 0, tracked=True).verdict is Verdict.SKIP
    # Nothing known yet (no commit, nothing delivered): the first record starts the partition.
    assert positions.admit("n", 40, None, None, tracked=True).verdict is Verdict.DELIVER


def test_a_seek_sets_what_is_expected_and_forget_falls_back_to_the_commit() -> None:
    positions = Positions()
    positions.sought("p", 30)
    positions.start_fetch()
    assert positions.admit("p", 31, None, 10, tracked=True).verdict is Verdict.REFETCH
    positions.forget()
    positions.start_fetch()
    assert positions.admit("p", 10, None, 10, tracked=True).verdict is Verdict.DELIVER


class _Rec:
    def __init__(self, offset: int) -> None:
        self.offset = offset


def test_outstanding_keeps_the_first_record_not_handled_per_partition() -> None:
    fetch = Outstanding.of({"a": [_Rec(3), _Rec(4), _Rec(5)], "b": [_Rec(9)], "c": []}, seq=7)
    assert fetch.seq == 7 and fetch.left() == {"a": 3, "b": 9}
    fetch.handled("a", 3)
    fetch.handled("b", 9)
    assert fetch.left() == {"a": 4}
    fetch.handled("a", 5)
    assert fetch.left() == {}


def test_rewind_only_backwards_and_only_where_nothing_sought_the_partition_since() -> None:
    assert rewind_target(4, position=6, assigned=True, sought_since=False) == 4
    assert rewind_target(4, position=6, assigned=True, sought_since=True) is None
    assert rewind_target(4, position=6, assigned=False, sought_since=False) is None
    assert rewind_target(4, position=4, assigned=True, sought_since=False) is None
    assert rewind_target(4, position=2, assigned=True, sought_since=False) is None
    assert rewind_target(4, position=None, assigned=True, sought_since=False) is None
