"""``streamrec bench quality``: one table of baselines, checkpoints and the transition blend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.stream.cli.main import main
from tests.support.models import generated_and_trained

pytestmark = pytest.mark.unit


def test_bench_quality_rows_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, ckpt = generated_and_trained(tmp_path, seed=4)
    capsys.readouterr()
    bench = ["bench", "quality", "--data", str(data), "--format", "csv"]
    assert main([*bench, "--checkpoint", f"tiny={ckpt}", "--neighbours", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    names = [r["name"] for r in rows]
    assert names[:2] == ["popularity", "co-occurrence"]
    assert names[2].startswith("tiny (served: + its transitions, alpha ")  # train's default
    assert names[3].startswith("tiny + transitions (alpha ")
    assert all("NDCG@10" in r and r["wall_s"] is not None for r in rows)
    assert not any(r["published"] for r in rows)  # not a file with published results
    # evaluate --neighbours --save: the model alone blended anew, written for export.
    saved = tmp_path / "blended.pt"
    evaluate = ["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--format", "csv"]
    assert main([*evaluate, "--neighbours", "--alphas", "0,64", "--save", str(saved)]) == 0
    blend = Checkpoint.load(saved).blend
    assert blend is not None and blend.alpha in (0.0, 64.0)
    assert main([*bench, "--checkpoint", str(ckpt)]) == 2
    assert main([*bench, "--checkpoint", f"x={tmp_path / 'missing.pt'}"]) == 2
    assert "NAME=PATH" in capsys.readouterr().err


def test_the_served_model_beats_co_occurrence_on_generated_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The regression check of the model workers serve: the GRU with its transitions, as
    ``streamrec train`` writes it and export carries it into the step, at or above counting."""
    data, ckpt = tmp_path / "events.csv", tmp_path / "m.pt"
    generate = ["generate", "--out", str(data), "--users", "300", "--items", "200"]
    assert main([*generate, "--events", "15000", "--seed", "4"]) == 0
    train = ["train", "--data", str(data), "--format", "csv", "--out", str(ckpt)]
    sizes = ["--embed-dim", "16", "--hidden-dim", "32", "--epochs", "15", "--no-progress"]
    assert main([*train, *sizes]) == 0
    capsys.readouterr()
    bench = ["bench", "quality", "--data", str(data), "--format", "csv"]
    assert main([*bench, "--checkpoint", f"served={ckpt}", "--json"]) == 0
    rows = {
        r["name"]: r for r in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    }
    name, served = next((n, r) for n, r in rows.items() if n.startswith("served (served: + its"))
    counting = rows["co-occurrence"]
    for metric in ("HR@10", "NDCG@10"):
        assert served[metric] >= counting[metric], (metric, served, counting)
    # ... and that is the model a bundle serves: export puts the transitions into the step.
    out = tmp_path / "bundle"
    assert main(["export", str(ckpt), str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["blend"]["alpha"] > 0
    assert f"alpha {manifest['blend']['alpha']:g})" in name
    assert "previous" in manifest["export"]["inputs"]
