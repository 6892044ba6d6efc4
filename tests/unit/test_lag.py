"""Unit tier: consumer lag from the broker's end offsets and the group's committed offsets."""

from __future__ import annotations

from faust.types import TP

from streamrec.stream.worker.lag import lag_of

A, B, C = TP("events", 0), TP("events", 1), TP("events-by-user", 0)


def test_lag_counts_from_the_committed_offset_or_the_earliest_when_none() -> None:
    ends = {A: 120, B: 50, C: 7}
    committed = {A: 100, B: None, C: 9}  # C: committed past a truncated end reads as 0
    assert lag_of(ends, committed, earliest={B: 30}) == {A: 20, B: 20, C: 0}
    assert lag_of({B: 50}, {B: None}, earliest={}) == {B: 50}  # nothing known: from offset 0
