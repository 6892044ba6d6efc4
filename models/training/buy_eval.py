"""The buy head judged as a classifier, against the base rate and a funnel heuristic.

Each example is one event of a validation or test period: from the user's events before it,
predict whether it is a buy. Buys are a few percent of events, so accuracy says little ("never"
is right 98 % of the time): the report gives ROC-AUC, PR-AUC (average precision, whose
chance level is the buy rate), and precision, recall and F1 at a threshold chosen on the
validation period (the F1-best one) and then applied to the test period, with a calibration
table (and plot) of predicted against observed buy rates.

Baselines: the training buy rate for everyone (no ranking at all), and a funnel heuristic,
the number of cart additions in the user's current session (events less than
``session_gap_s`` apart).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamrec.models.data.actions import Action
from streamrec.models.data.sequences import Split
from streamrec.models.training.histories import Scorer, history_batches
from streamrec.models.training.metrics import auc, binary_metrics

log = logging.getLogger(__name__)

SESSION_GAP_S = 1800.0
CALIBRATION_BINS = 10


def buy_labels(split: Split, which: str) -> np.ndarray:
    """Whether each buy example of ``which`` is a buy, ``(n,)`` bool."""
    targets, data = split.buy_targets(which), split.data
    pairs = zip(targets.user, targets.pos, strict=True)
    return np.array([data.actions[u][p] == int(Action.BUY) for u, p in pairs], dtype=bool)


def model_scores(scorer: Scorer, split: Split, which: str, batch_size: int = 512) -> np.ndarray:
    """The scorer's buy probability for each buy example of ``which``."""
    targets = split.buy_targets(which)
    probs = np.zeros(len(targets))
    for sl, items, actions, lengths in history_batches(split, targets, scorer.max_len, batch_size):
        _, buy = scorer.score(items, actions, lengths)
        if buy is None:
            raise ValueError("this scorer has no buy head")
        probs[sl] = np.asarray(buy, dtype=np.float64)
    return probs


def buy_metrics(
    scorer: Scorer, split: Split, which: str, batch_size: int = 512
) -> dict[str, float]:
    """``buy_AUC``, ``buy_accuracy``... of the scorer's buy probability (threshold 0.5).

    Empty when the labels hold a single class.
    """
    labels = buy_labels(split, which)
    if labels.all() or not labels.any():
        log.info("buy metrics skipped: the %s labels hold a single class", which)
        return {}
    found = binary_metrics(labels, model_scores(scorer, split, which, batch_size))
    return {f"buy_{k}": v for k, v in found.items()}


def base_rate_scores(split: Split, which: str) -> np.ndarray:
    """Everyone gets the buy rate of the events a model may fit on before ``which``."""
    lengths = split.fit_lengths(which)
    acts = [a[:n] for a, n in zip(split.data.actions, lengths, strict=True)]
    seen = np.concatenate(acts) if acts else np.zeros(0)
    rate = float(np.mean(seen == int(Action.BUY))) if len(seen) else 0.0
    return np.full(len(split.buy_targets(which)), rate)


def funnel_scores(split: Split, which: str, session_gap_s: float = SESSION_GAP_S) -> np.ndarray:
    """Cart additions in the current session before each example.

    The session: the events before the example, each less than ``session_gap_s`` before the
    next.
    """
    targets, data = split.buy_targets(which), split.data
    out = np.zeros(len(targets))
    for n, (u, p) in enumerate(zip(targets.user, targets.pos, strict=True)):
        times, acts = data.times[u], data.actions[u]
        start = p
        last = times[p]
        while start > 0 and last - times[start - 1] < session_gap_s:
            start -= 1
            last = times[start]
        out[n] = float(np.sum(acts[start:p] == int(Action.CART)))
    return out


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision; ties as one step)."""
    y = np.asarray(labels, dtype=bool)
    if not y.any():
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    s, t = np.asarray(scores)[order], y[order]
    tp = np.cumsum(t)
    # Only the last position of each run of equal scores is a threshold.
    last = np.r_[s[1:] != s[:-1], True]
    tp, seen = tp[last], np.flatnonzero(last) + 1
    precision, recall = tp / seen, tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold (predict buy at ``>=``) with the best F1 on these examples."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    s_sorted, tp = s[order], np.cumsum(y[order])
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    cut = np.flatnonzero(last)
    tp_at = tp[cut]
    predicted = cut + 1
    f1 = 2 * tp_at / (predicted + max(int(y.sum()), 1))
    return float(s_sorted[cut[int(np.argmax(f1))]]) if len(cut) else 0.5


def at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall, F1 and accuracy of ``scores >= threshold``."""
    y = np.asarray(labels, dtype=bool)
    pred = np.asarray(scores) >= threshold
    tp = float(np.sum(pred & y))
    precision = tp / max(float(pred.sum()), 1.0)
    recall = tp / max(float(y.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float(np.mean(pred == y)) if len(y) else 0.0
    return {"precision": precision, "recall": recall, "F1": f1, "accuracy": accuracy}


def calibration(
    labels: np.ndarray, probs: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[dict[str, float]]:
    """Equal-count bins of predicted probability: mean predicted and observed buy rate."""
    order = np.argsort(probs, kind="stable")
    rows = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            rows.append(
                {
                    "predicted": float(np.mean(probs[chunk])),
                    "observed": float(np.mean(labels[chunk])),
                    "examples": len(chunk),
                }
            )
    return rows


@dataclass(frozen=True)
class BuyRow:
    """One predictor's figures: ranking quality on test, and the validation-chosen threshold."""

    name: str
    roc_auc: float
    pr_auc: float
    threshold: float
    at_chosen: dict[str, float]
    at_half: dict[str, float]  # threshold 0.5, as the source article's figures were


Labelled = tuple[np.ndarray, np.ndarray]  # (labels, scores)


def judge(name: str, valid: Labelled, test: Labelled) -> BuyRow:
    """A predictor's row from its (labels, scores) on the validation and test periods."""
    threshold = best_f1_threshold(*valid)
    labels, scores = test
    return BuyRow(
        name,
        auc(labels, scores),
        average_precision(labels, scores),
        threshold,
        at_threshold(labels, scores, threshold),
        at_threshold(labels, scores, 0.5),
    )


def buy_report(scorer: Scorer, split: Split, name: str = "model") -> dict[str, Any]:
    """Every row, the test buy rate and the model's calibration table, as plain data."""
    periods = ("valid", "test")
    labels = {w: buy_labels(split, w) for w in periods}
    scores: dict[str, dict[str, np.ndarray]] = {
        name: {w: model_scores(scorer, split, w) for w in periods},
        "base rate": {w: base_rate_scores(split, w) for w in periods},
        "carts in the session": {w: funnel_scores(split, w) for w in periods},
    }
    rows = [
        judge(label, (labels["valid"], s["valid"]), (labels["test"], s["test"]))
        for label, s in scores.items()
    ]
    model_test = scores[name]["test"]
    return {
        "test_examples": len(labels["test"]),
        "test_buy_rate": float(labels["test"].mean()) if len(labels["test"]) else 0.0,
        "rows": [r.__dict__ for r in rows],
        "calibration": calibration(labels["test"], model_test),
    }


def plot_calibration(report: dict[str, Any], path: str | Path) -> Path:
    """PNG: predicted against observed buy rate per bin, with the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cal = report["calibration"]
    pred = [c["predicted"] for c in cal]
    seen = [c["observed"] for c in cal]
    top = max([*pred, *seen, 1e-3]) * 1.1
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect calibration")
    ax.plot(pred, seen, marker="o", label="buy head (test, 10 equal-count bins)")
    ax.axhline(report["test_buy_rate"], color="tab:red", linewidth=0.8, label="test buy rate")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted buy probability (bin mean)")
    ax.set_ylabel("observed buy rate")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
