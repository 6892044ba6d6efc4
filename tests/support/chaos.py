"""Run ``streamrec chaos`` as a subprocess (so every broker and worker it starts is its own to
clean up) and read its JSON."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[2]


def run_chaos_cli(args: list[str], work_dir: Path, timeout: float = 540) -> dict[str, Any]:
    """The JSON result of ``streamrec chaos ARGS --json``; fails the test on a harness error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMREC_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "streamrec.stream.cli", "chaos", *args, "--json"]
    done = subprocess.run(
        [*command, "--work-dir", str(work_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr.decode()[-4000:]
    result: dict[str, Any] = orjson.loads(done.stdout)
    result["exit_code"] = done.returncode
    return result
