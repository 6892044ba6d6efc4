"""The export tests' model: small, over the real data file's item ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamrec.models.nets.checkpoint import Checkpoint
from tests.support.models import tiny_checkpoint

# ../shared beside the project root (absent elsewhere: the real-input tests skip)
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "amazon_beauty_s3rec.txt"
N_ITEMS = 400


def small_checkpoint(
    cell: str = "gru", seed: int = 0, n_items: int = N_ITEMS, skip: bool = False
) -> Checkpoint:
    """A random small model over item ids "1".."n_items" (the s3rec file's ids)."""
    items = [str(i) for i in range(1, n_items + 1)]
    return tiny_checkpoint(
        items, seed=seed, hidden_dim=24, spread=True, metrics={"hr@10": 0.5}, cell=cell, skip=skip
    )


def load_or_skip(path: Path = REAL_DATA) -> Path:
    if not path.is_file():
        pytest.skip(f"real data {path} is absent; real-input test skipped")
    return path
