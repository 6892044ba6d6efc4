"""Multi-process tier: the short chaos run (5 kills, 1 broker bounce, 2 workers) passes.

Starts its own 3-broker cluster on free ports through ``streamrec chaos`` (as a subprocess,
so every worker and broker it starts is its own to clean up) and reads the JSON verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.chaos import run_chaos_cli

pytestmark = pytest.mark.slow


def test_short_chaos_run_loses_nothing(tmp_path: Path) -> None:
    args = ["--kills", "5", "--bounces", "1", "--workers", "2", "--rate", "20", "--users", "40"]
    result = run_chaos_cli(args, tmp_path)
    assert result["faults"]["kills"] == 5 and result["faults"]["bounces"] == 1
    assert result["events_sent"] > 0 and result["poison_sent"] > 0
    assert result["lost"] == 0, result["problems"]
    assert result["double_applied"] == 0, result["problems"]
    assert result["unanswered"] == 0, result["problems"]
    assert result["restore_mismatches"] == 0, result["problems"]
    assert result["dead_letters_match"], result
    assert result["ok"] and result["exit_code"] == 0
