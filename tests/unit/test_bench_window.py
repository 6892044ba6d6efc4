"""The sustained-rate window ends when the worker's count reaches the backlog, not a poll later."""

from __future__ import annotations

import pytest

from streamrec.stream.tools.bench import wait_for_count

POLL_COST_S = 0.003  # a worker renders its exposition for each poll


class _Drain:
    """A worker draining ``total`` events at ``rate`` from ``start`` on, on a simulated clock."""

    def __init__(self, total: float, rate: float, start: float) -> None:
        self.total, self.rate, self.start = total, rate, start
        self.now = 0.0
        self.reads = 0

    @property
    def done_at(self) -> float:
        return self.start + self.total / self.rate

    def count(self) -> float:
        self.now += POLL_COST_S
        self.reads += 1
        return float(min(self.total, max(0.0, (self.now - self.start) * self.rate)))

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("start", [0.0, 0.11, 0.23, 0.37, 0.49])
def test_the_last_reading_is_at_most_the_floor_late(start: float) -> None:
    # A 20,000-event replay at ~14,000 events/s drains in 1.4 s: a poll every 0.5 s could
    # read the end up to 0.5 s late and count a third of the window as idle.
    drain = _Drain(20_000, 14_000, start)
    t_first, first = wait_for_count(drain.count, 2_000, 60, clock=drain.clock, sleep=drain.sleep)
    t_last, last = wait_for_count(drain.count, 20_000, 60, clock=drain.clock, sleep=drain.sleep)
    assert last == 20_000
    assert t_last - drain.done_at <= 0.02 + POLL_COST_S + 1e-9
    assert (last - first) / (t_last - t_first) == pytest.approx(14_000, rel=0.05)


def test_polls_stay_coarse_while_the_target_is_far() -> None:
    drain = _Drain(110_000, 4_000, 1.0)  # a 27 s drain: no more polls than it needs
    wait_for_count(drain.count, 110_000, 120, clock=drain.clock, sleep=drain.sleep)
    assert drain.reads < 27.5 / 0.5 + 15


def test_the_count_returned_is_the_one_read_then() -> None:
    drain = _Drain(1_000, 100, 0.0)
    when, count = wait_for_count(drain.count, 500, 60, clock=drain.clock, sleep=drain.sleep)
    assert count >= 500 and count == pytest.approx((when - drain.start) * drain.rate)


def test_a_worker_that_stops_short_times_out() -> None:
    drain = _Drain(900, 100, 0.0)
    with pytest.raises(TimeoutError):
        wait_for_count(drain.count, 1_000, 30, clock=drain.clock, sleep=drain.sleep)
