"""Read stopped workers' RocksDB stores and compare a fresh restore with the live copies.

Faust keeps one RocksDB per table partition (``<table>-<partition>.db``) holding, besides
the users' states, the changelog offset the copy reflects. A directory a killed worker left
behind can hold a stale copy of a partition another worker owns now, so the reference for
each partition is the copy with the highest persisted changelog offset (the last owner's):
the fresh worker, restored from the changelog alone, must hold exactly those bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

OFFSET_KEY = b"__faust\0offset__"


@dataclass
class PartitionCopy:
    """One directory's copy of one table partition."""

    path: Path
    offset: int  # persisted changelog offset (-1: none)
    entries: dict[bytes, bytes] = field(default_factory=dict)


def read_copies(data_dir: Path, table: str) -> dict[int, PartitionCopy]:
    """Every partition copy of ``table`` under ``data_dir`` (the worker must be stopped)."""
    from rocksdict import AccessType, Options, Rdict

    pattern = re.compile(rf"^{re.escape(table)}-(\d+)\.db$")
    out: dict[int, PartitionCopy] = {}
    for path in sorted(data_dir.rglob(f"{table}-*.db")):
        match = pattern.match(path.name)
        if match is None or not path.is_dir():
            continue
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            copy = PartitionCopy(path, -1)
            for key, value in db.items():
                if not isinstance(key, bytes) or not isinstance(value, bytes):
                    raise TypeError(f"{path}: raw-mode RocksDB returned {type(key).__name__}")
                if key == OFFSET_KEY:
                    copy.offset = int(value)
                elif not key.startswith(b"__faust"):
                    copy.entries[key] = value
        finally:
            db.close()
        out[int(match.group(1))] = copy
    return out


def latest_copies(dirs: list[Path], table: str) -> dict[int, PartitionCopy]:
    """Per partition, the copy with the highest persisted offset (later directories win ties)."""
    best: dict[int, PartitionCopy] = {}
    for d in dirs:
        for partition, copy in read_copies(d, table).items():
            if partition not in best or copy.offset >= best[partition].offset:
                best[partition] = copy
    return best


def union(copies: dict[int, PartitionCopy]) -> dict[bytes, bytes]:
    """All users' states of a set of partition copies."""
    out: dict[bytes, bytes] = {}
    for copy in copies.values():
        out.update(copy.entries)
    return out


def mismatches(restored: dict[bytes, bytes], reference: dict[bytes, bytes]) -> list[bytes]:
    """Keys whose bytes differ, or that only one side holds."""
    return sorted(
        k for k in restored.keys() | reference.keys() if restored.get(k) != reference.get(k)
    )
