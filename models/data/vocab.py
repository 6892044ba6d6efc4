"""Stable mapping of external item ids to embedding rows, with reserved slots and room to grow.

Index 0 is padding and index 1 is "unknown". Known items take 2..size-1 in order of first
sight. The model is built with ``capacity >= size`` rows so new items can be added later
(online learning, cold start) without rebuilding it; rows between ``size`` and ``capacity``
are never recommended until an item is assigned to them.

An unseen id maps to ``UNK`` when looked up with :meth:`Vocabulary.index`; the model still
updates the user's state from the action (the item embedding is the learned UNK row), and
the item itself can never appear in a top-K list until it is added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

PAD = 0
UNK = 1
RESERVED = 2
CAPACITY_STEP = 64  # built vocabularies' capacity is a multiple of this...
ROUNDED_FROM = 1_024  # ...from this many rows


class VocabularyFullError(RuntimeError):
    """Raised when adding an item would exceed the model's capacity."""


def item_key(raw: object) -> str:
    """Canonical string form of an external item id (ints and strings with the same text match)."""
    if isinstance(raw, bool):
        raise TypeError("item id must be a string or an int, not a bool")
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, str):
        return raw.strip()
    raise TypeError(f"item id must be a string or an int, got {type(raw).__name__}")


@dataclass
class Vocabulary:
    """External item id <-> index, append-only so existing indices never move."""

    capacity: int
    ids: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {item: i + RESERVED for i, item in enumerate(self.ids)}
        if len(self._index) != len(self.ids):
            raise ValueError("duplicate item ids in vocabulary")
        if self.size > self.capacity:
            raise VocabularyFullError(f"{self.size} items exceed capacity {self.capacity}")

    @classmethod
    def build(cls, items: Iterable[object], headroom: float = 0.25) -> Vocabulary:
        """Vocabulary of ``items`` in first-seen order, with ``headroom`` extra capacity."""
        seen: dict[str, None] = {}
        for raw in items:
            seen.setdefault(item_key(raw), None)
        ids = list(seen)
        capacity = RESERVED + len(ids) + max(16, int(len(ids) * headroom))
        # From ROUNDED_FROM rows, a multiple of CAPACITY_STEP: the served step's top-K then
        # runs in blocks (streamrec.export.blocked_topk), several times faster over a large
        # catalog. (Smaller catalogs never use blocks, so their models stay as they were.)
        if capacity >= ROUNDED_FROM:
            capacity = -(-capacity // CAPACITY_STEP) * CAPACITY_STEP
        return cls(capacity=capacity, ids=ids)

    @property
    def size(self) -> int:
        """Number of used rows, reserved ones included."""
        return RESERVED + len(self.ids)

    def __len__(self) -> int:
        return self.size

    def __contains__(self, raw: object) -> bool:
        return (isinstance(raw, str) and raw in self._index) or item_key(raw) in self._index

    def index(self, raw: object) -> int:
        """Row of an item, ``UNK`` for an id never added."""
        # Keys are canonical strings, so a string found as it is needs no canonical form (the
        # per-event case); anything else (an int, surrounding spaces, a bad type) goes through
        # item_key, which also raises for types that are not ids.
        if isinstance(raw, str):
            row = self._index.get(raw)
            if row is not None:
                return row
        return self._index.get(item_key(raw), UNK)

    def add(self, raw: object) -> int:
        """Row of an item, assigning the next free row to a new one."""
        key = item_key(raw)
        found = self._index.get(key)
        if found is not None:
            return found
        if self.size >= self.capacity:
            raise VocabularyFullError(f"capacity {self.capacity} reached; re-train with more")
        self.ids.append(key)
        self._index[key] = self.size - 1
        return self.size - 1

    def copy(self) -> Vocabulary:
        """An independent copy (vocabularies are append-only and mutable)."""
        return Vocabulary(capacity=self.capacity, ids=list(self.ids))

    def item_id(self, index: int) -> str:
        """External id of a row (raises for reserved or unassigned rows)."""
        if index < RESERVED or index >= self.size:
            raise IndexError(f"row {index} holds no item")
        return self.ids[index - RESERVED]

    def to_json(self) -> bytes:
        """Serialized form, stable across runs."""
        return orjson.dumps({"capacity": self.capacity, "ids": self.ids})

    @classmethod
    def from_json(cls, data: bytes) -> Vocabulary:
        """Inverse of :meth:`to_json`."""
        obj = orjson.loads(data)
        return cls(capacity=int(obj["capacity"]), ids=[str(i) for i in obj["ids"]])

    def checksum(self) -> str:
        """sha256 of the serialized vocabulary."""
        return hashlib.sha256(self.to_json()).hexdigest()
