"""The promotion gate: a fine-tuned candidate must be sound and not worse than the serving model.

Both models are scored *prequentially* on the newest slice of the stream, which the candidate
did not train on: each held-out event is predicted from the user's state after every earlier
event of the window (context first, then the held-out events before it), exactly as the worker
would have served it (item-to-item transitions included, for a model that carries them).
Metrics: HR@K, NDCG@K of the next item under full ranking and the AUC of the buy head against
"this event is a buy". A target a model cannot rank (an item its
vocabulary lacks) is a miss for that model, which is how a candidate that learned new items
earns credit for them.

Structural checks come first and reject without scoring: non-finite weights, a config whose
state or embedding shapes differ from the serving one (stored user states would not fit), a
vocabulary that is not an append-only extension of the serving one (stored rows would move).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from streamrec.models.data.actions import Action
from streamrec.models.data.events import Event
from streamrec.models.nets.checkpoint import Checkpoint, CheckpointError
from streamrec.models.nets.gru import score_mask
from streamrec.models.nets.neighbours import Blend
from streamrec.models.training.metrics import Ranks, auc, ranking_metrics, target_ranks
from streamrec.models.training.online import user_sequences

CONTEXT_LIMIT = 200  # most context events per user fed before the held-out ones
SHAPE_FIELDS = ("num_items", "embed_dim", "hidden_dim", "cell", "tied", "num_actions")


@dataclass(frozen=True)
class GateConfig:
    """When a candidate may replace the serving model."""

    k: int = 10
    tolerance: float = 0.05  # relative drop of HR@K / NDCG@K still accepted
    auc_tolerance: float = 0.02  # absolute drop of buy AUC still accepted
    min_events: int = 20  # fewer held-out predictions: no decision (rejected as too little)


@dataclass
class GateDecision:
    """Outcome for one candidate, with the figures that decided it."""

    promoted: bool
    reason: str
    candidate: dict[str, float] = field(default_factory=dict)
    serving: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for announcements and logs (NaN becomes None)."""

        def clean(d: dict[str, float]) -> dict[str, float | None]:
            return {k: (v if math.isfinite(v) else None) for k, v in d.items()}

        return {
            "promoted": self.promoted,
            "reason": self.reason,
            "candidate": clean(self.candidate),
            "serving": clean(self.serving),
        }


def structural_problems(candidate: Checkpoint, serving: Checkpoint | None) -> list[str]:
    """Reasons the candidate can never be served (empty when none)."""
    problems = [
        f"non-finite values in {name}"
        for name, t in candidate.state_dict.items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    try:
        candidate.build_model()
    except CheckpointError as exc:
        problems.append(f"shape mismatch: {exc}")
    if serving is not None:
        c, s = candidate.config.to_dict(), serving.config.to_dict()
        for name in SHAPE_FIELDS:
            if c[name] != s[name]:
                problems.append(f"shape mismatch: {name} {c[name]} != serving {s[name]}")
        old = serving.vocab.ids
        if candidate.vocab.ids[: len(old)] != old:
            problems.append("vocabulary is not an append-only extension of the serving one")
    return problems


@torch.no_grad()
def prequential(
    checkpoint: Checkpoint,
    context: Sequence[Event],
    holdout: Sequence[Event],
    k: int = 10,
    users_per_batch: int = 256,
) -> dict[str, float]:
    """HR@K, NDCG@K and buy AUC of ``checkpoint`` predicting each held-out event in turn."""
    model = checkpoint.build_model()
    vocab = checkpoint.vocab
    held = {id(e) for e in holdout}
    events = [*context, *holdout]
    users, seqs = user_sequences(events, vocab)
    # Which positions of each user's sequence are held out (user_sequences sorts by ts).
    by_user: dict[str, list[Event]] = {}
    for e in events:
        by_user.setdefault(e.user_id, []).append(e)
    mask = score_mask(checkpoint.config.num_items, vocab.size).numpy()
    excluded = ~np.isfinite(mask)
    ranks, buys, probs = [], [], []
    for start in range(0, len(users), users_per_batch):
        rows_batch, acts_batch, target_pos = [], [], []
        for user, (rows, acts) in zip(
            users[start : start + users_per_batch],
            seqs[start : start + users_per_batch],
            strict=True,
        ):
            evs = sorted(by_user[user], key=lambda e: e.ts)
            is_held = np.fromiter((id(e) in held for e in evs), bool, len(evs))
            first = int(np.argmax(is_held)) if is_held.any() else len(evs)
            cut = max(0, first - CONTEXT_LIMIT)
            rows, acts, is_held = rows[cut:], acts[cut:], is_held[cut:]
            pos = np.flatnonzero(is_held)
            pos = pos[pos >= 1]  # the first event of a user has nothing to predict it from
            if len(pos):
                rows_batch.append(rows)
                acts_batch.append(acts)
                target_pos.append(pos)
        if not rows_batch:
            continue
        width = max(len(r) for r in rows_batch)
        x = np.zeros((len(rows_batch), width), np.int64)
        a = np.zeros_like(x)
        for i, (r, ac) in enumerate(zip(rows_batch, acts_batch, strict=True)):
            x[i, : len(r)], a[i, : len(ac)] = r, ac
        out = model.hidden(torch.from_numpy(x), torch.from_numpy(a))  # (B, T, H)
        for i, pos in enumerate(target_pos):
            h = out[i, pos - 1]  # state after the event before each target, (P, H)
            scores = (model.item_logits(h)).numpy() + mask
            if checkpoint.blend is not None:  # as the step serves it: plus the transitions
                _add_transitions(scores, checkpoint.blend, x[i], pos)
            targets = x[i, pos]
            ranks.append(target_ranks(scores, targets, np.broadcast_to(excluded, scores.shape)))
            probs.append(torch.sigmoid(model.buy_logit(h)).numpy())
            buys.append(a[i, pos] == int(Action.BUY))
    if not ranks:
        return {f"HR@{k}": 0.0, f"NDCG@{k}": 0.0, "buy_AUC": float("nan"), "events": 0.0}
    joined = Ranks.concat(ranks)
    metrics = ranking_metrics(joined, ks=(k,))
    return {
        f"HR@{k}": metrics[f"HR@{k}"],
        f"NDCG@{k}": metrics[f"NDCG@{k}"],
        "buy_AUC": auc(np.concatenate(buys), np.concatenate(probs)),
        "events": float(len(joined.better)),
    }


def _add_transitions(scores: np.ndarray, blend: Blend, rows: np.ndarray, pos: np.ndarray) -> None:
    """Add ``blend``'s weights for the items before each target ``pos`` of ``rows`` in place."""
    t = blend.table
    before = pos[:, None] - 1 - np.arange(t.recent)[None, :]  # (P, R), latest first
    history = np.where(before >= 0, rows[np.maximum(before, 0)], 0)
    n = min(scores.shape[1], t.rows)
    scores[:, :n] += np.float32(blend.alpha) * t.dense(history)[:, :n]


def decide(candidate: dict[str, float], serving: dict[str, float], cfg: GateConfig) -> GateDecision:
    """Promote when no metric is worse than the serving one beyond the tolerances."""
    k = cfg.k
    if candidate.get("events", 0.0) < cfg.min_events:
        n = int(candidate.get("events", 0))
        reason = f"too few held-out predictions ({n} < {cfg.min_events})"
        return GateDecision(False, reason, candidate, serving)
    worse = []
    for name in (f"HR@{k}", f"NDCG@{k}"):
        if candidate[name] < serving[name] * (1.0 - cfg.tolerance) - 1e-12:
            worse.append(f"{name} {candidate[name]:.4f} < serving {serving[name]:.4f}")
    c_auc, s_auc = candidate["buy_AUC"], serving["buy_AUC"]
    if math.isfinite(s_auc) and (not math.isfinite(c_auc) or c_auc < s_auc - cfg.auc_tolerance):
        worse.append(f"buy_AUC {c_auc:.4f} < serving {s_auc:.4f}")
    if worse:
        return GateDecision(False, "worse than serving: " + "; ".join(worse), candidate, serving)
    hr = f"HR@{k}"
    reason = f"not worse: {hr} {candidate[hr]:.4f} vs serving {serving[hr]:.4f}"
    return GateDecision(True, reason, candidate, serving)


def gate(
    candidate: Checkpoint,
    serving: Checkpoint | None,
    context: Sequence[Event],
    holdout: Sequence[Event],
    cfg: GateConfig | None = None,
) -> GateDecision:
    """Structural checks, then prequential comparison on ``holdout`` (after ``context``)."""
    cfg = cfg or GateConfig()
    problems = structural_problems(candidate, serving)
    if problems:
        return GateDecision(False, "rejected: " + "; ".join(problems))
    cand = prequential(candidate, context, holdout, cfg.k)
    if serving is None:
        return GateDecision(True, "first model", cand, {})
    serv = prequential(serving, context, holdout, cfg.k)
    return decide(cand, serv, cfg)
