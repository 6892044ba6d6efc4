"""The item catalog: one validated record per item, and loaders for CSV/JSONL catalog files.

An item record is ``{item_id, title[, category][, brand][, price][, description]}``. The text
the sentence encoder reads is built from the record by :meth:`ItemRecord.text`, so training,
the offline evaluation and the worker embed exactly the same string for an item.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streamrec.models.data.vocab import item_key

MAX_TITLE = 512
MAX_DESCRIPTION = 4096


class CatalogError(ValueError):
    """A catalog row or message that is not a valid item record."""


class ItemRecord(BaseModel):
    """One catalog item (the items topic's message and a catalog file's row)."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    item_id: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    category: str | None = Field(None, max_length=256)
    brand: str | None = Field(None, max_length=256)
    price: float | None = Field(None, ge=0)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)

    @field_validator("item_id", mode="before")
    @classmethod
    def _canonical_id(cls, value: object) -> str:
        try:
            return item_key(value)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("category", "brand", "description", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("price", mode="before")
    @classmethod
    def _blank_price(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def text(self) -> str:
        """The string the text encoder embeds: title, then brand, category and description."""
        parts = [self.title]
        if self.brand:
            parts.append(f"by {self.brand}")
        if self.category:
            parts.append(f"in {self.category}")
        text = ", ".join(parts)
        if self.description:
            text = f"{text}. {self.description}"
        return text

    def to_json(self) -> bytes:
        """Compact JSON without empty optional fields."""
        return orjson.dumps(self.model_dump(exclude_none=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> ItemRecord:
        """Parse one JSON message; raises :class:`CatalogError` with the reason."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CatalogError(f"not JSON: {exc}") from exc
        return parse_item(obj)


def parse_item(obj: Any) -> ItemRecord:
    """Validate a mapping as an item record; raises :class:`CatalogError`."""
    if not isinstance(obj, dict):
        raise CatalogError(f"an item must be a JSON object, got {type(obj).__name__}")
    try:
        return ItemRecord.model_validate(obj)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CatalogError(errors) from exc


def text_hash(text: str) -> str:
    """Cache key of an item text (sha256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                yield line, row
        return
    with path.open("rb") as fh:
        for line, raw in enumerate(fh, start=1):
            if raw.strip():
                try:
                    yield line, orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise CatalogError(f"{path}:{line}: not JSON: {exc}") from exc


def load_catalog(path: str | Path, fmt: str | None = None) -> list[ItemRecord]:
    """Items of a CSV (header row) or JSONL file, in file order; a bad row raises with its line.

    A repeated ``item_id`` keeps its last record (a later row updates the item).
    """
    path = Path(path)
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if fmt not in ("csv", "jsonl"):
        raise CatalogError(f"unknown catalog format {fmt!r} (csv or jsonl)")
    items: dict[str, ItemRecord] = {}
    for line, row in _rows(path, fmt):
        try:
            record = parse_item(row)
        except CatalogError as exc:
            raise CatalogError(f"{path}:{line}: {exc}") from exc
        items.pop(record.item_id, None)
        items[record.item_id] = record
    return list(items.values())


def write_catalog(items: Iterable[ItemRecord], path: str | Path) -> Path:
    """Write items as JSONL (or CSV when the name ends in .csv)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = list(items)
    if path.suffix.lower() == ".csv":
        fields = list(ItemRecord.model_fields)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for r in records:
                writer.writerow({k: ("" if v is None else v) for k, v in r.model_dump().items()})
        return path
    path.write_bytes(b"".join(r.to_json() + b"\n" for r in records))
    return path
