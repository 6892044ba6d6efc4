"""``streamrec bench quality``: one table of baselines, checkpoints and the transition blend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    assert names[:3] == ["popularity", "co-occurrence", "tiny"]
    assert names[3].startswith("tiny + transitions (alpha ")
    assert all("NDCG@10" in r and r["wall_s"] is not None for r in rows)
    assert not any(r["published"] for r in rows)  # not a file with published results
    assert main([*bench, "--checkpoint", str(ckpt)]) == 2
    assert main([*bench, "--checkpoint", f"x={tmp_path / 'missing.pt'}"]) == 2
    assert "NAME=PATH" in capsys.readouterr().err
