"""Turn raw rows into clean :class:`Event` lists, counting everything dropped or fixed.

Rules, in order:

1. A row missing a user, item, action or timestamp is dropped (``missing``).
2. A timestamp that is neither a number nor an ISO-8601 date is dropped (``unparsable_ts``).
3. An action not in the mapping is dropped (``unknown_action``), unless a default is given.
4. Exact duplicates (same user, item, action and timestamp) are dropped (``duplicates``).
5. Rows that arrive earlier in time than the user's previous row are kept and re-ordered
   (``out_of_order`` counts them); the output is sorted by ``(ts, file order)``.
6. Optionally, k-core filtering repeatedly removes users and items with fewer than ``k``
   events until none is left (``kcore_users``, ``kcore_items``, ``kcore_events``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

from streamrec.models.data.actions import (
    DEFAULT_ACTION_NAMES,
    Action,
    UnknownActionError,
    parse_action,
)
from streamrec.models.data.events import Event

TsUnit = Literal["s", "ms"]


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One row as read from a file, before any validation (fields may be missing)."""

    user_id: object
    item_id: object
    action: object
    ts: object
    session_id: object = None
    line: int = 0  # 1-based row number in the source, for reports


@dataclass
class CleaningReport:
    """What cleaning read, kept, dropped and fixed."""

    rows: int = 0
    kept: int = 0
    missing: int = 0
    unparsable_ts: int = 0
    unknown_action: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    kcore_users: int = 0
    kcore_items: int = 0
    kcore_events: int = 0
    unknown_action_names: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # a few offending rows, for humans

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return asdict(self)

    def note(self, line: int, reason: str, max_examples: int = 5) -> None:
        """Keep up to ``max_examples`` example problems."""
        if len(self.examples) < max_examples:
            self.examples.append(f"row {line}: {reason}")


def parse_ts(raw: object, unit: TsUnit = "s") -> float:
    """Unix seconds from a number, numeric string or ISO-8601 date; ``ValueError`` otherwise."""
    if isinstance(raw, bool):
        raise ValueError("a bool is not a timestamp")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, datetime):
        return raw.timestamp()
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            return datetime.fromisoformat(text).timestamp()
    else:
        raise ValueError(f"cannot read a timestamp from {type(raw).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"timestamp {raw!r} is not finite")
    return value / 1000.0 if unit == "ms" else value


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 12.0 from a float column is item "12"
    return str(value).strip()


def clean(
    rows: Iterable[RawEvent],
    action_names: Mapping[str, Action] = DEFAULT_ACTION_NAMES,
    default_action: Action | None = None,
    ts_unit: TsUnit = "s",
    k_core: int = 0,
) -> tuple[list[Event], CleaningReport]:
    """Validate, de-duplicate and order ``rows``; see the module docstring for the rules."""
    report = CleaningReport()
    parsed: list[tuple[float, int, Event]] = []
    seen: set[tuple[str, str, int, float]] = set()
    last_ts: dict[str, float] = {}
    for order, row in enumerate(rows):
        report.rows += 1
        if (
            _blank(row.user_id)
            or _blank(row.item_id)
            or _blank(row.ts)
            or (_blank(row.action) and default_action is None)
        ):
            report.missing += 1
            report.note(row.line, "missing field")
            continue
        try:
            ts = parse_ts(row.ts, ts_unit)
        except ValueError:
            report.unparsable_ts += 1
            report.note(row.line, f"unparsable timestamp {row.ts!r}")
            continue
        if _blank(row.action):
            action = default_action
        else:
            try:
                action = parse_action(_text(row.action), action_names)
            except UnknownActionError:
                action = default_action
                if action is None:
                    report.unknown_action += 1
                    name = _text(row.action)
                    report.unknown_action_names[name] = report.unknown_action_names.get(name, 0) + 1
                    report.note(row.line, f"unknown action {name!r}")
                    continue
        assert action is not None
        user, item = _text(row.user_id), _text(row.item_id)
        key = (user, item, int(action), ts)
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        if ts < last_ts.get(user, -math.inf):
            report.out_of_order += 1
        else:
            last_ts[user] = ts
        session = None if _blank(row.session_id) else _text(row.session_id)
        parsed.append((ts, order, Event(user, item, action, ts, session)))
    parsed.sort(key=lambda x: (x[0], x[1]))
    events = [e for _, _, e in parsed]
    if k_core > 1:
        events = kcore_filter(events, k_core, report)
    report.kept = len(events)
    return events, report


def kcore_filter(events: list[Event], k: int, report: CleaningReport | None = None) -> list[Event]:
    """Drop users and items with fewer than ``k`` events, repeatedly, until stable."""
    dropped_users: set[str] = set()
    dropped_items: set[str] = set()
    before = len(events)
    while True:
        users = Counter(e.user_id for e in events)
        items = Counter(e.item_id for e in events)
        bad_users = {u for u, n in users.items() if n < k}
        bad_items = {i for i, n in items.items() if n < k}
        if not bad_users and not bad_items:
            break
        dropped_users |= bad_users
        dropped_items |= bad_items
        events = [e for e in events if e.user_id not in bad_users and e.item_id not in bad_items]
    if report is not None:
        report.kcore_users += len(dropped_users)
        report.kcore_items += len(dropped_items)
        report.kcore_events += before - len(events)
    return events
