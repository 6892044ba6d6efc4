"""The buy head's report: average precision, the F1-best threshold, the funnel heuristic that
counts carts in the session, calibration bins, and the CLI that writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamrec.models.data.actions import Action
from streamrec.models.data.events import Event
from streamrec.models.data.sequences import build_sequences, time_split
from streamrec.models.training import buy_eval

pytestmark = pytest.mark.unit


def test_average_precision_of_known_rankings() -> None:
    y = np.array([1, 0, 1, 0], dtype=bool)
    # Ranked 1, 0, 1, 0: precision 1 at the first buy, 2/3 at the second.
    assert buy_eval.average_precision(y, np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx(
        (1.0 + 2 / 3) / 2
    )
    assert buy_eval.average_precision(y, np.array([0.9, 0.1, 0.8, 0.2])) == pytest.approx(1.0)
    # One score for everyone: the buy rate, whatever the order.
    assert buy_eval.average_precision(y, np.zeros(4)) == pytest.approx(0.5)


def test_the_threshold_is_the_f1_best_and_applies_as_greater_or_equal() -> None:
    y = np.array([1, 1, 0, 0, 0], dtype=bool)
    s = np.array([0.9, 0.6, 0.5, 0.2, 0.1])
    t = buy_eval.best_f1_threshold(y, s)
    assert t == pytest.approx(0.6)
    assert buy_eval.at_threshold(y, s, t) == {
        "precision": 1.0,
        "recall": 1.0,
        "F1": 1.0,
        "accuracy": 1.0,
    }


def _events() -> list[Event]:
    """u1: a cart 10 min before a buy; u2: a cart a day before a click; time-split periods."""
    day = 86_400.0
    rows = [
        ("u1", "a", Action.CLICK, 0.0),
        ("u1", "a", Action.CART, 3 * day),
        ("u1", "a", Action.BUY, 3 * day + 600),
        ("u2", "b", Action.CART, 1 * day),
        ("u2", "b", Action.CLICK, 9 * day),
        ("u3", "c", Action.CLICK, 2 * day),
        ("u3", "c", Action.CLICK, 9.5 * day),
    ]
    for n in range(20):  # enough earlier traffic for the quantile cuts
        rows.append((f"x{n}", "d", Action.CLICK, n * 0.1 * day))
    return [Event(u, i, a, ts) for u, i, a, ts in sorted(rows, key=lambda r: r[3])]


def test_funnel_counts_carts_in_the_current_session_only() -> None:
    split = time_split(build_sequences(_events()), test_share=0.2, val_share=0.2)
    targets, data = split.buy_targets("test"), split.data
    scores = buy_eval.funnel_scores(split, "test")
    examples = [(data.users[u], int(p)) for u, p in zip(targets.user, targets.pos, strict=True)]
    assert examples == [("u1", 1), ("u1", 2), ("u2", 1), ("u3", 1)]
    # u1's buy comes 10 min after its cart; u2's cart was 8 days earlier: another session.
    assert scores.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert buy_eval.buy_labels(split, "test").tolist() == [False, True, False, False]


def test_calibration_bins_hold_every_example() -> None:
    rng = np.random.default_rng(0)
    probs = rng.random(1000)
    labels = rng.random(1000) < probs
    bins = buy_eval.calibration(labels, probs)
    assert len(bins) == 10 and sum(b["examples"] for b in bins) == 1000
    assert bins[0]["predicted"] < bins[-1]["predicted"]
    assert bins[-1]["observed"] > bins[0]["observed"]


def test_cli_buy_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from streamrec.stream.cli.main import main
    from tests.support.models import generated_and_trained

    data, ckpt = generated_and_trained(tmp_path, seed=3, events=3000)
    capsys.readouterr()
    report = tmp_path / "buys"
    argv = ["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--format", "csv"]
    assert main([*argv, "--buy-report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "carts in the session" in out and "base rate" in out
    written = json.loads((report / "buy.json").read_text())
    names = [r["name"] for r in written["rows"]]
    assert names == ["buy head", "base rate", "carts in the session"]
    base = written["rows"][1]
    assert base["roc_auc"] == pytest.approx(0.5)
    assert base["pr_auc"] == pytest.approx(written["test_buy_rate"])
    assert (report / "calibration.png").stat().st_size > 0
