"""Write events as CSV or JSON Lines in the canonical columns that the generic loader reads.

Columns: ``user_id, item_id, action, ts, session_id``; ``action`` is the lower-case name
(``click``, ``cart``, ``fav``, ``buy``), ``ts`` Unix seconds, ``session_id`` empty when absent.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import orjson

from streamrec.models.data.events import Event

COLUMNS = ("user_id", "item_id", "action", "ts", "session_id")
WriteFormat = Literal["csv", "jsonl"]


def infer_format(path: str | Path) -> WriteFormat:
    """``jsonl`` for ``.jsonl``/``.ndjson``/``.json`` files, ``csv`` otherwise."""
    suffix = Path(path).suffix.lower()
    return "jsonl" if suffix in {".jsonl", ".ndjson", ".json"} else "csv"


def write_events(events: Iterable[Event], path: str | Path, fmt: WriteFormat | None = None) -> int:
    """Write ``events`` to ``path`` (format from the suffix unless given); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or infer_format(path)
    n = 0
    if fmt == "jsonl":
        with path.open("wb") as fh:
            for e in events:
                fh.write(orjson.dumps(_as_record(e)) + b"\n")
                n += 1
        return n
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for e in events:
            writer.writerow(
                [e.user_id, e.item_id, e.action.name.lower(), repr(e.ts), e.session_id or ""]
            )
            n += 1
    return n


def _as_record(e: Event) -> dict[str, object]:
    return {
        "user_id": e.user_id,
        "item_id": e.item_id,
        "action": e.action.name.lower(),
        "ts": e.ts,
        "session_id": e.session_id,
    }
