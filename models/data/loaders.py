"""Read event files into clean :class:`Event` lists with a :class:`CleaningReport`.

Formats (``--format`` on the command line):

- ``csv`` / ``jsonl`` / ``parquet``: one event per row, columns named by a
  :class:`ColumnMap` (default: ``user_id, item_id, action, ts, session_id`` as written by
  :mod:`streamrec.models.data.writers`). CSV files have a header row.
- ``taobao``: Taobao UserBehavior CSV without header:
  ``user_id,item_id,category_id,behavior,timestamp`` (behavior ``pv|cart|fav|buy``).
- ``sequences``: one user per line, ``user_id item_1 item_2 ...`` in time order
  (e.g. ``amazon_beauty_s3rec.txt``). Every item is a click; ``ts`` is the position.
- ``recsys15``: the RecSys Challenge 2015 logs: a clicks file
  ``session_id,timestamp,item_id,category`` and optionally a buys file
  ``session_id,timestamp,item_id,price,quantity``; a session is the user.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from streamrec.models.data.actions import DEFAULT_ACTION_NAMES, Action
from streamrec.models.data.cleaning import CleaningReport, RawEvent, TsUnit, clean
from streamrec.models.data.events import Event

Format = Literal["csv", "jsonl", "parquet", "taobao", "sequences", "recsys15"]
FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet", "taobao", "sequences", "recsys15")


class LoaderError(ValueError):
    """Raised when a file cannot be read at all (missing, wrong format, missing columns)."""


@dataclass(frozen=True)
class ColumnMap:
    """Which source column holds each event field; ``action``/``session`` may be absent."""

    user: str = "user_id"
    item: str = "item_id"
    action: str | None = "action"
    ts: str = "ts"
    session: str | None = "session_id"

    @classmethod
    def parse(cls, text: str) -> ColumnMap:
        """From ``"user=uid,item=sku,ts=time"`` (fields not named keep their defaults)."""
        values: dict[str, str | None] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key not in cls.__dataclass_fields__:
                raise LoaderError(f"bad column mapping {part!r}; use field=column")
            values[key] = value or None
        return cls(**values)  # type: ignore[arg-type]


def load_events(
    path: str | Path,
    fmt: Format,
    columns: ColumnMap | None = None,
    action_names: Mapping[str, Action] = DEFAULT_ACTION_NAMES,
    ts_unit: TsUnit = "s",
    k_core: int = 0,
    buys: str | Path | None = None,
) -> tuple[list[Event], CleaningReport]:
    """Load and clean ``path`` in format ``fmt``; ``buys`` is the RecSys'15 buys file."""
    path = Path(path)
    if not path.is_file():
        raise LoaderError(f"no such file: {path}")
    cols = columns or ColumnMap()
    default_action = Action.CLICK if cols.action is None else None
    if fmt == "csv":
        rows: Iterator[RawEvent] = _mapped(_csv_dicts(path), cols)
    elif fmt == "jsonl":
        rows = _mapped(_jsonl_dicts(path), cols)
    elif fmt == "parquet":
        rows = _mapped(_parquet_dicts(path, cols), cols)
    elif fmt == "taobao":
        rows = _taobao_rows(path)
    elif fmt == "sequences":
        rows = _sequence_rows(path)
    elif fmt == "recsys15":
        rows = _recsys15_rows(path, Path(buys) if buys else None)
    else:
        raise LoaderError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return clean(rows, action_names, default_action, ts_unit, k_core)


def _mapped(
    records: Iterator[tuple[int, Mapping[str, object]]], cols: ColumnMap
) -> Iterator[RawEvent]:
    required = [cols.user, cols.item, cols.ts] + ([cols.action] if cols.action else [])
    checked = False
    for line, rec in records:
        if not checked:
            absent = [c for c in required if c not in rec]
            if absent:
                raise LoaderError(
                    f"columns {absent} not found (have {sorted(rec)}); pass a column mapping"
                )
            checked = True
        yield RawEvent(
            user_id=rec.get(cols.user),
            item_id=rec.get(cols.item),
            action=rec.get(cols.action) if cols.action else None,
            ts=rec.get(cols.ts),
            session_id=rec.get(cols.session) if cols.session else None,
            line=line,
        )


def _csv_dicts(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        yield from enumerate(csv.DictReader(fh), start=2)


def _jsonl_dicts(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                rec = None
            # An unreadable line becomes an all-missing row so the report counts it.
            yield n, rec if isinstance(rec, dict) else {}


def _parquet_dicts(path: Path, cols: ColumnMap) -> Iterator[tuple[int, Mapping[str, object]]]:
    import pyarrow.parquet as pq

    wanted = [c for c in (cols.user, cols.item, cols.action, cols.ts, cols.session) if c]
    table = pq.ParquetFile(path)
    present = [c for c in wanted if c in table.schema_arrow.names]
    n = 0
    for batch in table.iter_batches(columns=present):
        data = batch.to_pydict()
        for i in range(batch.num_rows):
            n += 1
            yield n, {c: data[c][i] for c in present}


def _split_lines(path: Path, sep: str | None) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                yield n, line.rstrip("\r\n").split(sep)


def _taobao_rows(path: Path) -> Iterator[RawEvent]:
    for n, parts in _split_lines(path, ","):
        if len(parts) != 5:
            yield RawEvent(None, None, None, None, line=n)  # counted as missing
            continue
        user, item, _category, behavior, ts = parts
        yield RawEvent(user, item, behavior, ts, line=n)


def _sequence_rows(path: Path) -> Iterator[RawEvent]:
    for n, parts in _split_lines(path, None):
        if len(parts) < 2:
            yield RawEvent(parts[0] if parts else None, None, "click", 0, line=n)
            continue
        user = parts[0]
        for pos, item in enumerate(parts[1:]):
            yield RawEvent(user, item, "click", pos, line=n)


def _recsys15_rows(clicks: Path, buys: Path | None) -> Iterator[RawEvent]:
    for n, parts in _split_lines(clicks, ","):
        if len(parts) < 3:
            yield RawEvent(None, None, None, None, line=n)
            continue
        yield RawEvent(parts[0], parts[2], "click", parts[1], session_id=parts[0], line=n)
    if buys is None:
        return
    if not buys.is_file():
        raise LoaderError(f"no such buys file: {buys}")
    for n, parts in _split_lines(buys, ","):
        if len(parts) < 3:
            yield RawEvent(None, None, None, None, line=n)
            continue
        yield RawEvent(parts[0], parts[2], "buy", parts[1], session_id=parts[0], line=n)
