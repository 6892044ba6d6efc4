"""A tiny training run learns sequential structure; the CLI prints JSON last."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamrec.models.data.sequences import build_sequences, leave_one_out
from streamrec.models.data.synthetic import generate_events
from streamrec.models.training.baselines import PopularityScorer
from streamrec.models.training.evaluate import evaluate
from streamrec.models.training.train import TrainConfig, train


@pytest.fixture(scope="module")
def split():
    # Strong successor structure: the next item usually follows from the last one.
    events = generate_events(200, 60, 5000, seed=3, sequential=0.9, cart_rate=0.0, fav_rate=0.0)
    return leave_one_out(build_sequences(events))


@pytest.mark.parametrize(
    "options",
    [
        {"model": "gru", "init_std": 0.1},
        {"model": "gru", "skip": True},
        {"model": "lstm", "init_std": 0.1},
        {"model": "sasrec", "lr": 5e-3, "batch_size": 64},
    ],
    ids=["gru", "gru-skip", "lstm", "sasrec"],
)
def test_tiny_training_beats_popularity(split, options) -> None:
    base = {
        "embed_dim": 32,
        "hidden_dim": 32,
        "dropout": 0.1,
        "max_len": 20,
        "batch_size": 32,
        "lr": 1e-2,
        "epochs": 6,
        "patience": 3,
        "num_heads": 1,
        "num_blocks": 1,
    }
    result = train(split, TrainConfig(**{**base, **options}), progress=False)
    popularity = evaluate(PopularityScorer(split), split, "test")
    assert result.test["NDCG@10"] > popularity["NDCG@10"] + 0.05, (result.test, popularity)
    assert result.history and result.best_epoch >= 1


def test_sampled_softmax_trains(split) -> None:
    cfg = TrainConfig(
        embed_dim=16, hidden_dim=16, max_len=20, batch_size=64, lr=5e-3, epochs=2, negatives=16
    )
    result = train(split, cfg, progress=False)
    assert result.history[-1]["loss"] < result.history[0]["loss"] * 1.5


def test_cli_generate_train_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from streamrec.stream.cli.main import main

    data = tmp_path / "events.csv"
    assert (
        main(
            [
                "generate",
                "--out",
                str(data),
                "--users",
                "80",
                "--items",
                "30",
                "--events",
                "1500",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "evaluate",
                "--baseline",
                "popularity",
                "--data",
                str(data),
                "--format",
                "csv",
                "--json",
            ]
        )
        == 0
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    metrics = json.loads(last)
    assert {"HR@10", "NDCG@10", "MRR@20"} <= set(metrics)
    ckpt = tmp_path / "m.pt"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--format",
                "csv",
                "--out",
                str(ckpt),
                "--epochs",
                "1",
                "--embed-dim",
                "8",
                "--hidden-dim",
                "8",
                "--no-progress",
                "--report-dir",
                str(tmp_path / "report"),
            ]
        )
        == 0
    )
    assert (tmp_path / "report" / "curves.png").stat().st_size > 0
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["history"]
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(ckpt),
                "--data",
                str(data),
                "--format",
                "csv",
                "--json",
            ]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "HR@10" in metrics and "buy_AUC" in metrics
    argv = ["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--format", "csv"]
    assert main([*argv, "--neighbours", "--alphas", "0,1", "--json"]) == 0
    blend = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert blend["alpha"] in (0.0, 1.0) and set(blend["valid_NDCG@10"]) == {"0.0", "1.0"}
    assert "HR@10" in blend and blend["blend"] == "neighbours"
    assert main([*argv, "--neighbours", "--alphas", "x"]) == 2
