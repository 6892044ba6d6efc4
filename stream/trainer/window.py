"""The trainer's bounded replay window: the most recent events, capped by age and by count.

Age is measured in event time against the newest event seen, so a replayed or lagging stream
keeps the same window as a live one. The newest slice is held out for the gate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from streamrec.models.data.events import Event


@dataclass(frozen=True)
class WindowLimits:
    """How much of the stream the trainer keeps."""

    max_events: int = 50_000
    max_age_s: float = 6 * 3600.0


class ReplayWindow:
    """Events in arrival order; the oldest drop out by count and by event-time age."""

    def __init__(self, limits: WindowLimits) -> None:
        self.limits = limits
        self._events: deque[Event] = deque()
        self.newest_ts = 0.0
        self.seen = 0  # events ever added

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: Event) -> None:
        """Append one event and evict what falls outside the limits."""
        self._events.append(event)
        self.seen += 1
        self.newest_ts = max(self.newest_ts, event.ts)
        self._evict()

    def extend(self, events: list[Event]) -> None:
        """Append several events."""
        for e in events:
            self._events.append(e)
            self.newest_ts = max(self.newest_ts, e.ts)
        self.seen += len(events)
        self._evict()

    def _evict(self) -> None:
        horizon = self.newest_ts - self.limits.max_age_s
        while self._events and (
            len(self._events) > self.limits.max_events or self._events[0].ts < horizon
        ):
            self._events.popleft()

    def events(self) -> list[Event]:
        """A snapshot, oldest first."""
        return list(self._events)

    def split(self, holdout_share: float, min_holdout: int = 1) -> tuple[list[Event], list[Event]]:
        """(training part, newest slice held out for the gate) of a snapshot."""
        events = self.events()
        n_hold = min(len(events), max(min_holdout, int(len(events) * holdout_share)))
        cut = len(events) - n_hold
        return events[:cut], events[cut:]
