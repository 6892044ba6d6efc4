"""``streamrec bench step``: the ONNX step against torch eager, and with transitions, in one run."""

from __future__ import annotations

import json

import pytest

from streamrec.stream.cli.main import main

pytestmark = pytest.mark.unit


def test_bench_step_times_the_step_with_and_without_transitions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["bench", "step", "--catalogs", "2000", "--batches", "1,8", "--iters", "5"]
    assert main([*args, "--threads", "1", "--transitions", "--int8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    engines = {(r["batch"], r["engine"]) for r in result["rows"]}
    named = ("onnx-cpu", "onnx-cpu+transitions", "onnx-cpu-int8", "torch-eager")
    assert engines == {(b, e) for b in (1, 8) for e in named}
    assert all(r["events_per_s"] > 0 and r["iters"] >= 5 for r in result["rows"])
    assert [c["batch"] for c in result["ratios"]] == [1, 8]
    assert all(c["transitions"] > 0 and c["int8"] > 0 for c in result["ratios"])
    assert main([*args, "--threads", "1"]) == 0  # the plain run prints no transitions line
    assert "transitions" not in capsys.readouterr().out
