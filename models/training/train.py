"""Training loop for the sequence models: full-softmax cross-entropy, AdamW, early stopping.

Every position of every training window predicts the next item (cross-entropy over the whole
catalog, or over sampled negatives for very large catalogs) and whether the next action is a
buy (binary cross-entropy). Validation NDCG@10 is computed after each epoch with the same
harness as the final test; the best epoch's weights are kept.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from streamrec.models.data.actions import Action
from streamrec.models.data.sequences import Split, Targets
from streamrec.models.nets.gru import score_mask
from streamrec.models.nets.scoring import ModelScorer, SequenceModel
from streamrec.models.training.evaluate import evaluate

log = logging.getLogger(__name__)

ModelKind = Literal["gru", "lstm", "sasrec"]
# An added training loss: (outputs (M, H), next-item targets (M,), score mask (N,)) -> scalar.
ExtraLoss = Callable[[Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (stored in the checkpoint)."""

    model: ModelKind = "gru"
    embed_dim: int = 64
    hidden_dim: int = 128
    dropout: float = 0.3
    tied: bool = True
    skip: bool = False  # gru/lstm: input skip into the scoring query (see RecurrentConfig)
    init_std: float = 0.02
    num_blocks: int = 2  # sasrec only
    num_heads: int = 2  # sasrec only
    max_len: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    epochs: int = 100
    patience: int = 8  # epochs without validation improvement before stopping
    monitor: str = "NDCG@10"
    buy_weight: float = 0.1  # weight of the buy-head loss beside the next-item loss
    negatives: int = 0  # 0: full softmax; n: sampled softmax with n shared negatives
    seed: int = 0
    time_budget_s: float = 0.0  # stop after this many seconds (0: no limit)
    valid_users: int = 0  # validate on a fixed random subset of this many users (0: all)
    threads: int = 0  # torch CPU threads (0: torch's default); 1 is fastest on a busy box
    device: str = ""  # "" picks cuda when available, else cpu

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


@dataclass
class TrainResult:
    """The trained model (best epoch), its per-epoch history and final metrics."""

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    valid: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def pick_device(name: str = "") -> torch.device:
    """``cuda`` when present, else ``cpu`` (or the device named)."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def training_windows(split: Split, max_len: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Chop each user's training prefix into windows of ``max_len + 1`` events (from the end)."""
    out = []
    for items, actions, n in zip(
        split.data.items, split.data.actions, split.train_lengths, strict=True
    ):
        end = int(n)
        while end >= 2:
            start = max(0, end - max_len - 1)
            out.append((items[start:end], actions[start:end]))
            end = start + 1 if start > 0 else 0
    return out


def _batches(
    windows: list[tuple[np.ndarray, np.ndarray]], batch_size: int, rng: np.random.Generator
) -> list[list[int]]:
    """Length-bucketed batches (little padding), in random order."""
    lengths = np.array([len(w[0]) for w in windows])
    order = np.lexsort((rng.random(len(windows)), lengths))
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def _collate(
    windows: list[tuple[np.ndarray, np.ndarray]], idx: list[int], device: torch.device
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Inputs, actions, next items, next-is-buy labels, validity mask, all ``(B, T)``."""
    t = max(len(windows[i][0]) for i in idx) - 1
    items = np.zeros((len(idx), t + 1), dtype=np.int64)
    actions = np.zeros((len(idx), t + 1), dtype=np.int64)
    for row, i in enumerate(idx):
        seq, act = windows[i]
        items[row, : len(seq)] = seq
        actions[row, : len(act)] = act
    x = torch.from_numpy(items).to(device)
    a = torch.from_numpy(actions).to(device)
    valid = x[:, 1:] != 0
    buy = (a[:, 1:] == int(Action.BUY)).float()
    return x[:, :-1], a[:, :-1], x[:, 1:], buy, valid


def build_model(cfg: TrainConfig, num_items: int) -> nn.Module:
    """A fresh GRU/LSTM or SASRec model for ``num_items`` embedding rows."""
    if cfg.model == "sasrec":
        from streamrec.models.nets.sasrec import SASRecConfig, SASRecRecommender

        return SASRecRecommender(
            SASRecConfig(
                num_items=num_items,
                embed_dim=cfg.embed_dim,
                num_blocks=cfg.num_blocks,
                num_heads=cfg.num_heads,
                dropout=cfg.dropout,
                max_len=cfg.max_len,
                tied=cfg.tied,
            )
        )
    from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender

    return RecurrentRecommender(
        RecurrentConfig(
            num_items=num_items,
            embed_dim=cfg.embed_dim,
            hidden_dim=cfg.hidden_dim,
            dropout=cfg.dropout,
            cell=cfg.model,
            tied=cfg.tied,
            skip=cfg.skip,
            init_std=cfg.init_std,
        )
    )


def train(
    split: Split,
    cfg: TrainConfig,
    num_items: int | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    model: nn.Module | None = None,
    never_score: np.ndarray | None = None,
    extra_loss: ExtraLoss | None = None,
) -> TrainResult:
    """Train on ``split.train_lengths`` prefixes, early-stop on validation, test the best.

    ``model``: train this one instead of a fresh :func:`build_model` (e.g. the text-fused
    model); ``never_score``: rows masked out of the training softmax (held-out items);
    ``extra_loss(outputs, targets, mask)`` is added to each batch's loss.
    """
    from tqdm import tqdm

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    valid_split = _subsample_valid(split, cfg.valid_users, cfg.seed)
    device = pick_device(cfg.device)
    vocab = split.data.vocab
    rows = num_items or vocab.capacity
    model = (model if model is not None else build_model(cfg, rows)).to(device)
    seq_model: SequenceModel = model  # type: ignore[assignment]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    mask = score_mask(rows, vocab.size).to(device)
    if never_score is not None and len(never_score):
        mask[torch.from_numpy(np.asarray(never_score, np.int64)).to(device)] = float("-inf")
    windows = training_windows(split, cfg.max_len)
    if not windows:
        raise ValueError("no training sequence has two or more events")
    scorer = ModelScorer(seq_model, rows, vocab.size, cfg.max_len, device)
    result = TrainResult(model=model)
    best = -math.inf
    best_state: dict[str, Tensor] = {}
    stale = 0
    started = time.monotonic()
    bar = tqdm(range(1, cfg.epochs + 1), disable=not progress, unit="epoch", dynamic_ncols=True)
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for idx in _batches(windows, cfg.batch_size, rng):
            x, a, y, buy, valid = _collate(windows, idx, device)
            out = seq_model.hidden(x, a)[valid]  # (M, H) valid positions only
            loss = _item_loss(seq_model, out, y[valid], mask, cfg.negatives)
            if cfg.buy_weight > 0:
                loss = loss + cfg.buy_weight * F.binary_cross_entropy_with_logits(
                    seq_model.buy_logit(out), buy[valid]
                )
            if extra_loss is not None:
                loss = loss + extra_loss(out, y[valid], mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(out)
            count += len(out)
        metrics = evaluate(scorer, valid_split, "valid")
        row = {"epoch": float(epoch), "loss": total / max(count, 1), **metrics}
        row["seconds"] = time.monotonic() - started
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if cfg.monitor not in metrics:
            raise ValueError(
                f"validation gives no {cfg.monitor} (it gives {', '.join(sorted(metrics))}); "
                "buy_AUC needs buys and non-buys among the validation events"
            )
        score = metrics[cfg.monitor]
        if score > best:
            best, stale, result.best_epoch = score, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        bar.set_postfix(loss=f"{row['loss']:.3f}", val=f"{score:.4f}", best=f"{best:.4f}")
        log.info("epoch %d loss %.4f valid %s %.4f", epoch, row["loss"], cfg.monitor, score)
        if stale >= cfg.patience:
            log.info("early stop: no improvement for %d epochs", stale)
            break
        if cfg.time_budget_s and row["seconds"] > cfg.time_budget_s:
            log.info("time budget of %.0f s reached", cfg.time_budget_s)
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    result.valid = next(h for h in result.history if h["epoch"] == result.best_epoch)
    result.test = evaluate(scorer, split, "test")
    result.seconds = time.monotonic() - started
    return result


def _subsample_valid(split: Split, users: int, seed: int) -> Split:
    """``split`` with validation targets of at most ``users`` users (fixed random subset)."""
    if users <= 0 or users >= len(split.valid):
        return split
    pick = np.sort(np.random.default_rng(seed + 1).choice(len(split.valid), users, replace=False))
    valid = Targets(split.valid.user[pick], split.valid.pos[pick])
    return dataclasses.replace(split, valid=valid, buy_valid=None)


def _item_loss(
    model: SequenceModel, out: Tensor, targets: Tensor, mask: Tensor, negatives: int
) -> Tensor:
    """Cross-entropy of the next item: full softmax, or sampled softmax with shared negatives."""
    if negatives <= 0:
        return F.cross_entropy(model.item_logits(out) + mask, targets)
    # Sampled softmax: the target plus shared uniform negatives. Uniform sampling makes the
    # logQ correction a constant, so it drops out; a negative equal to the target is masked.
    valid_rows = torch.nonzero(torch.isfinite(mask)).squeeze(1)
    pick = valid_rows[torch.randint(len(valid_rows), (negatives,), device=out.device)]
    positive = model.score_rows(out, targets.unsqueeze(1))  # (M, 1)
    negative = model.score_rows(out, pick)  # (M, n)
    negative = negative.masked_fill(pick.unsqueeze(0) == targets.unsqueeze(1), -1e9)
    logits = torch.cat([positive, negative], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=out.device))
