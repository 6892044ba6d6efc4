"""Training with item text: the fused model trained end to end, the sentence encoder frozen.

The loop, losses and evaluation are those of :mod:`streamrec.models.training.train`.

The item text matrix ``(capacity, T)`` holds each vocabulary row's sentence embedding (zeros
for reserved rows, unassigned rows and items without text).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from streamrec.models.data.catalog import load_catalog
from streamrec.models.data.sequences import Split
from streamrec.models.data.vocab import RESERVED, Vocabulary
from streamrec.models.nets.gru import RecurrentConfig
from streamrec.models.text.fusion import Fusion, TextFusedRecommender
from streamrec.models.training.baselines import training_counts
from streamrec.models.training.train import ExtraLoss, TrainConfig, TrainResult, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextOptions:
    """How ``streamrec train`` uses item text (``--catalog`` and friends)."""

    catalog: Path  # CSV/JSONL item catalog (streamrec.models.data.catalog)
    fusion: Fusion = "sum"
    text_loss: float = 2.0
    id_dropout: float = 0.0
    encoder_dir: Path | None = None  # exported sentence encoder (default: the cache)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for reports)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def catalog_text(vocab: Vocabulary, catalog: Path, encoder_dir: Path | None) -> np.ndarray:
    """The text matrix of ``vocab`` from a catalog file, encoded by the packaged encoder."""
    from streamrec.models.text.encoder import TextEncoder
    from streamrec.models.text.encoder_export import ensure_text_encoder

    texts = {r.item_id: r.text() for r in load_catalog(catalog)}
    encoder = TextEncoder(ensure_text_encoder(encoder_dir))
    text = text_matrix(vocab, texts, encoder.encode)
    covered = int((np.abs(text).sum(1) > 0).sum())
    log.info("item text: %d of %d items have a catalog entry", covered, vocab.size)
    if covered == 0:
        raise ValueError(f"{catalog}: no item of the data has a catalog entry (check item ids)")
    return text


def text_matrix(
    vocab: Vocabulary, texts: Mapping[str, str], encode: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Sentence embeddings per vocabulary row ``(capacity, T)``; zero rows lack text."""
    rows = [(i + RESERVED, texts[item]) for i, item in enumerate(vocab.ids) if item in texts]
    vectors = encode([t for _, t in rows]) if rows else np.zeros((0, 1), np.float32)
    out = np.zeros((vocab.capacity, vectors.shape[1]), np.float32)
    for (row, _), vec in zip(rows, vectors, strict=True):
        out[row] = vec
    return out


def train_with_text(
    split: Split,
    cfg: TrainConfig,
    text: np.ndarray,
    fusion: Fusion = "sum",
    hidden_rows: np.ndarray | None = None,
    progress: bool = False,
    id_dropout: float = 0.0,
    text_loss: float = 1.0,
) -> TrainResult:
    """Train a :class:`TextFusedRecommender` with :func:`streamrec.models.training.train.train`.

    ``hidden_rows`` are never scored in training (held-out items). ``id_dropout``: share of
    rows whose id part is dropped per training step. ``text_loss``: weight of a second
    next-item loss scored against the text-only table (every item as if it had no
    interactions), so the projection alone ranks well: what a brand-new item is served with.
    """
    if cfg.model != "gru" and cfg.model != "lstm":
        raise ValueError("item text is implemented for the recurrent models")
    torch.manual_seed(cfg.seed)
    vocab = split.data.vocab
    rows = vocab.capacity
    if text.shape[0] != rows:
        raise ValueError(f"text matrix has {text.shape[0]} rows, the vocabulary {rows}")
    counts = np.zeros(rows)
    counts[: vocab.size] = training_counts(split, "valid")
    config = RecurrentConfig(
        num_items=rows,
        embed_dim=cfg.embed_dim,
        hidden_dim=cfg.hidden_dim,
        dropout=cfg.dropout,
        cell=cfg.model,
        tied=True,
        skip=cfg.skip,
        init_std=cfg.init_std,
    )
    use_id = torch.from_numpy((counts > 0).astype(np.float32))
    model = TextFusedRecommender(config, torch.from_numpy(text), use_id, fusion, id_dropout)
    extra = _text_only_loss(model, text_loss) if text_loss > 0 else None
    return train(
        split, cfg, progress=progress, model=model, never_score=hidden_rows, extra_loss=extra
    )


def _text_only_loss(model: TextFusedRecommender, weight: float) -> ExtraLoss:
    """Cross-entropy of the next item against the text-only item table, times ``weight``."""

    def loss(out: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        table = model.fused.text_only_weight()
        logits = model.query(out) @ table.T + model.item_bias + mask
        return weight * F.cross_entropy(logits, targets)

    return loss
