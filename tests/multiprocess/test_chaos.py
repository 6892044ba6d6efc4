"""Multi-process tier: the short chaos run (5 kills, 1 broker bounce, 2 workers) passes.

Starts its own 3-broker cluster on free ports through ``streamrec chaos`` (as a subprocess,
so every worker and broker it starts is its own to clean up) and reads the JSON verdict.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_short_chaos_run_loses_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMREC_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    args = ["--kills", "5", "--bounces", "1", "--workers", "2", "--rate", "20", "--users", "40"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamrec.stream.cli",
            "chaos",
            *args,
            "--json",
            "--work-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=540,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr.decode()[-4000:]
    result = orjson.loads(done.stdout)
    assert result["faults"]["kills"] == 5 and result["faults"]["bounces"] == 1
    assert result["events_sent"] > 0 and result["poison_sent"] > 0
    assert result["lost"] == 0, result["problems"]
    assert result["double_applied"] == 0, result["problems"]
    assert result["unanswered"] == 0, result["problems"]
    assert result["restore_mismatches"] == 0, result["problems"]
    assert result["dead_letters_match"], result
    assert result["ok"] and done.returncode == 0
