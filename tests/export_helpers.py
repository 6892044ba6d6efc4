"""Shared fixtures for the export tests: one small model and one bundle per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from streamrec.export.onnx_export import export_checkpoint
from streamrec.models.data.vocab import Vocabulary
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender

REAL_DATA = Path("/work/shared/datasets/amazon_beauty_s3rec.txt")
N_ITEMS = 400


def small_checkpoint(
    cell: str = "gru", seed: int = 0, n_items: int = N_ITEMS, skip: bool = False
) -> Checkpoint:
    """A random small model over item ids "1".."n_items" (the s3rec file's ids)."""
    torch.manual_seed(seed)
    vocab = Vocabulary.build(str(i) for i in range(1, n_items + 1))
    config = RecurrentConfig(
        num_items=vocab.capacity,
        embed_dim=16,
        hidden_dim=24,
        cell=cell,
        skip=skip,  # type: ignore[arg-type]
    )
    model = RecurrentRecommender(config).eval()
    with torch.no_grad():  # spread the scores so random models have few near-ties
        model.item_bias.normal_(0, 1.0)
        model.item_embedding.weight.normal_(0, 0.5)
        if model.skip is not None:  # zero at init: make the input skip really contribute
            model.skip.weight.normal_(0, 0.5)
    return Checkpoint(config, model.state_dict(), vocab, metrics={"hr@10": 0.5})


@pytest.fixture(scope="session")
def checkpoint() -> Checkpoint:
    return small_checkpoint()


@pytest.fixture(scope="session")
def bundle_dir(checkpoint: Checkpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "b"
    export_checkpoint(checkpoint, out, k=10, version="v1", parent="v0")
    return out


@pytest.fixture
def bundle_copy(bundle_dir: Path, tmp_path: Path) -> Path:
    """A private copy that a test may tamper with."""
    return Path(shutil.copytree(bundle_dir, tmp_path / "copy"))


def load_or_skip(path: Path = REAL_DATA) -> Path:
    if not path.is_file():
        pytest.skip(f"real data {path} is absent; real-input test skipped")
    return path
