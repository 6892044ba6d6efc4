"""Online fine-tuning: warm-start the serving checkpoint on a recent window of the stream.

New items seen in the window get the next free vocabulary rows (the vocabulary is append-only,
so rows already stored in user states keep their meaning) and their embeddings start as the
mean embedding of the items that preceded them in users' sequences (their context), falling
back to the mean of all used rows: a new item then scores like its neighbours from the first
step instead of like random noise. The loss is the training loss of
:mod:`streamrec.models.training.train` (full-softmax next item + weighted buy BCE) over windows of
the users' recent sequences. A model trained with item text keeps its parent's projection
(``Checkpoint.text_side``), so the promoted bundle still gives an announced, never-clicked item a
row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from streamrec.models.data.actions import Action
from streamrec.models.data.events import Event
from streamrec.models.data.vocab import RESERVED, Vocabulary, VocabularyFullError
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.gru import RecurrentRecommender, score_mask
from streamrec.models.nets.neighbours import Blend

log = logging.getLogger(__name__)

Sequences = list[tuple[np.ndarray, np.ndarray]]  # per user: item rows, action codes (int64)


@dataclass(frozen=True)
class FineTuneConfig:
    """Hyper-parameters of one fine-tuning round (small: it runs every few minutes)."""

    epochs: int = 3
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    max_len: int = 50
    buy_weight: float = 0.1
    seed: int = 0
    time_budget_s: float = 0.0  # stop early after this many seconds (0: no limit)


@dataclass
class FineTuneResult:
    """The candidate checkpoint and what happened while making it."""

    checkpoint: Checkpoint
    new_items: list[str] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    examples: int = 0
    seconds: float = 0.0


def user_sequences(events: Sequence[Event], vocab: Vocabulary) -> tuple[list[str], Sequences]:
    """Per user (first-seen order): rows and action codes in time order; unknown items -> UNK."""
    by_user: dict[str, list[Event]] = {}
    for e in events:
        by_user.setdefault(e.user_id, []).append(e)
    users, seqs = [], []
    for user, evs in by_user.items():
        evs.sort(key=lambda e: e.ts)
        rows = np.fromiter((vocab.index(e.item_id) for e in evs), np.int64, len(evs))
        acts = np.fromiter((int(e.action) for e in evs), np.int64, len(evs))
        users.append(user)
        seqs.append((rows, acts))
    return users, seqs


def extend_vocabulary(
    checkpoint: Checkpoint, events: Sequence[Event]
) -> tuple[Checkpoint, list[str]]:
    """A copy of ``checkpoint`` with the window's new items added and their rows initialised.

    When the capacity is reached the remaining new items stay unknown (UNK) and a warning is
    logged: the model must then be re-trained with more headroom.
    """
    vocab = checkpoint.vocab.copy()
    added: list[str] = []
    for e in sorted(events, key=lambda e: e.ts):
        if e.item_id in vocab:
            continue
        try:
            vocab.add(e.item_id)
        except VocabularyFullError:
            log.warning("vocabulary full at %d rows; new items stay unknown", vocab.capacity)
            break
        added.append(e.item_id)
    state = {k: v.detach().clone() for k, v in checkpoint.state_dict.items()}
    if added:
        _init_new_rows(state, checkpoint.vocab.size, vocab, events)
    extended = Checkpoint(
        config=checkpoint.config,
        state_dict=state,
        vocab=vocab,
        metrics=dict(checkpoint.metrics),
        train_config=dict(checkpoint.train_config),
        text_side=checkpoint.text_side,
        blend=checkpoint.blend,
    )
    return extended, added


@torch.no_grad()
def _init_new_rows(
    state: dict[str, Tensor], old_size: int, vocab: Vocabulary, events: Sequence[Event]
) -> None:
    """Embedding of each new row = mean embedding of the known items just before it."""
    tables = [k for k in ("item_embedding.weight", "output_embedding.weight") if k in state]
    context: dict[int, list[int]] = {}
    _, seqs = user_sequences(events, vocab)
    for rows, _acts in seqs:
        for prev, row in zip(rows[:-1].tolist(), rows[1:].tolist(), strict=True):
            if row >= old_size and RESERVED <= prev < old_size:
                context.setdefault(row, []).append(prev)
    bias = state["item_bias"]
    known_bias = bias[RESERVED:old_size]
    for name in tables:
        table = state[name]
        fallback = table[RESERVED:old_size].mean(dim=0)
        for row in range(old_size, vocab.size):
            ctx = context.get(row)
            table[row] = table[ctx].mean(dim=0) if ctx else fallback
    # A new item starts at the median popularity prior: neither buried nor on top.
    bias[old_size : vocab.size] = known_bias.median() if len(known_bias) else 0.0


def training_windows(seqs: Sequences, max_len: int) -> Sequences:
    """Chop each sequence into windows of at most ``max_len + 1`` events (newest first kept)."""
    out: Sequences = []
    for rows, acts in seqs:
        end = len(rows)
        while end >= 2:
            start = max(0, end - max_len - 1)
            out.append((rows[start:end], acts[start:end]))
            end = start + 1 if start > 0 else 0
    return out


def _collate(windows: Sequences, idx: Sequence[int]) -> tuple[Tensor, ...]:
    """Inputs, actions, targets, buy labels, valid mask; each ``(B, T)``."""
    width = max(len(windows[i][0]) for i in idx)
    items = np.zeros((len(idx), width), np.int64)
    actions = np.zeros((len(idx), width), np.int64)
    for r, i in enumerate(idx):
        rows, acts = windows[i]
        items[r, : len(rows)] = rows
        actions[r, : len(acts)] = acts
    x, a = torch.from_numpy(items), torch.from_numpy(actions)
    # Targets must be real items: PAD and UNK rows are masked to -inf in the scores, so a
    # UNK target (an item that found no free row) would make the loss infinite.
    valid = x[:, 1:] >= RESERVED
    buy = (a[:, 1:] == int(Action.BUY)).float()
    return x[:, :-1], a[:, :-1], x[:, 1:], buy, valid


def fine_tune(
    checkpoint: Checkpoint, events: Sequence[Event], cfg: FineTuneConfig | None = None
) -> FineTuneResult:
    """Warm-start from ``checkpoint``, add new items, train on ``events``; CPU, eval mode out."""
    cfg = cfg or FineTuneConfig()
    started = time.monotonic()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    extended, added = extend_vocabulary(checkpoint, events)
    model: RecurrentRecommender = extended.build_model()
    _, seqs = user_sequences(events, extended.vocab)
    if extended.blend is not None:
        # The window's transitions (and its new items) enter the table the step carries.
        table = extended.blend.table.refreshed([rows for rows, _ in seqs], extended.vocab.size)
        extended.blend = Blend(table, extended.blend.alpha)
    windows = training_windows(seqs, cfg.max_len)
    result = FineTuneResult(checkpoint=extended, new_items=added)
    if not windows:
        log.info("fine-tune: no user has two events in the window; nothing to learn")
        result.seconds = time.monotonic() - started
        return result
    mask = score_mask(extended.config.num_items, extended.vocab.size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model.train()
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(windows))
        total, count = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            x, a, y, buy, valid = _collate(windows, order[start : start + cfg.batch_size].tolist())
            out = model.hidden(x, a)[valid]  # (M, H)
            loss = F.cross_entropy(model.item_logits(out) + mask, y[valid])
            if cfg.buy_weight > 0:
                loss = loss + cfg.buy_weight * F.binary_cross_entropy_with_logits(
                    model.buy_logit(out), buy[valid]
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(out)
            count += len(out)
        result.losses.append(total / max(count, 1))
        result.examples = count
        log.info("fine-tune epoch %d/%d loss %.4f", epoch + 1, cfg.epochs, result.losses[-1])
        if cfg.time_budget_s and time.monotonic() - started > cfg.time_budget_s:
            log.info("fine-tune: time budget of %.0f s reached", cfg.time_budget_s)
            break
    model.eval()
    result.checkpoint = Checkpoint(
        config=extended.config,
        state_dict={k: v.detach().clone() for k, v in model.state_dict().items()},
        vocab=extended.vocab,
        metrics=dict(checkpoint.metrics),
        train_config={**checkpoint.train_config, "fine_tune": cfg.__dict__},
        text_side=checkpoint.text_side,  # kept: the promoted bundle serves new items with it
        blend=extended.blend,
    )
    result.seconds = time.monotonic() - started
    return result
