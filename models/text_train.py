"""Training with item text: the fused model trained end to end, the sentence encoder frozen.

The loop, losses and evaluation are those of :mod:`models.train`.

The item text matrix ``(capacity, T)`` holds each vocabulary row's sentence embedding (zeros
for reserved rows, unassigned rows and items without text).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.baselines import training_counts
from models.evaluate import evaluate
from models.gru import RecurrentConfig, score_mask
from models.scoring import ModelScorer
from models.sequences import Split
from models.text_fusion import Fusion, TextFusedRecommender
from models.train import (
    TrainConfig,
    TrainResult,
    _batches,
    _collate,
    _item_loss,
    _subsample_valid,
    pick_device,
    training_windows,
)
from models.vocab import RESERVED, Vocabulary

log = logging.getLogger(__name__)


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
) -> TrainResult:
    """Train a :class:`TextFusedRecommender`; ``hidden_rows`` are never scored in training.

    ``id_dropout``: share of rows whose id part is dropped per training step (cold start).
    """
    if cfg.model != "gru" and cfg.model != "lstm":
        raise ValueError("item text is implemented for the recurrent models")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = pick_device(cfg.device)
    vocab = split.data.vocab
    rows = vocab.capacity
    counts = np.zeros(rows)
    counts[: vocab.size] = training_counts(split, "valid")
    config = RecurrentConfig(
        num_items=rows,
        embed_dim=cfg.embed_dim,
        hidden_dim=cfg.hidden_dim,
        dropout=cfg.dropout,
        cell=cfg.model,
        tied=True,
    )
    use_id = torch.from_numpy((counts > 0).astype(np.float32))
    text_t = torch.from_numpy(text)
    model = TextFusedRecommender(config, text_t, use_id, fusion, id_dropout).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    mask = score_mask(rows, vocab.size).to(device)
    if hidden_rows is not None and len(hidden_rows):
        mask[torch.from_numpy(np.asarray(hidden_rows, np.int64)).to(device)] = float("-inf")
    windows = training_windows(split, cfg.max_len)
    scorer = ModelScorer(model, rows, vocab.size, cfg.max_len, device)
    valid_split = _subsample_valid(split, cfg.valid_users, cfg.seed)
    result = TrainResult(model=model)
    best, stale, started = -math.inf, 0, time.monotonic()
    best_state: dict[str, Tensor] = {}
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, count = 0.0, 0
        for idx in _batches(windows, cfg.batch_size, rng):
            x, a, y, buy, valid = _collate(windows, idx, device)
            out = model.hidden(x, a)[valid]  # (M, H)
            loss = _item_loss(model, out, y[valid], mask, cfg.negatives)
            if cfg.buy_weight > 0:
                loss = loss + cfg.buy_weight * F.binary_cross_entropy_with_logits(
                    model.buy_logit(out), buy[valid]
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(out)
            count += len(out)
        metrics = evaluate(scorer, valid_split, "valid")
        row = {"epoch": float(epoch), "loss": total / max(count, 1), **metrics}
        row["seconds"] = time.monotonic() - started
        result.history.append(row)
        if progress:
            log.warning(
                "epoch %d loss %.4f %s %.4f", epoch, row["loss"], cfg.monitor, row[cfg.monitor]
            )
        if metrics[cfg.monitor] > best:
            best, stale, result.best_epoch = metrics[cfg.monitor], 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if stale >= cfg.patience or (cfg.time_budget_s and row["seconds"] > cfg.time_budget_s):
            break
    model.load_state_dict(best_state)
    model.eval()
    result.valid = next(h for h in result.history if h["epoch"] == result.best_epoch)
    result.test = evaluate(scorer, split, "test")
    result.seconds = time.monotonic() - started
    return result
