"""On an install without the ``train`` extra, training commands say what to install (one line,
exit status 2) instead of a ModuleNotFoundError traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVE_ONLY = REPO / "tests" / "support" / "serve_only"


def test_train_without_the_train_extra_names_the_extra(tmp_path: Path) -> None:
    data = tmp_path / "seq.txt"
    data.write_text("1 2 3 4\n2 3 4 5\n")
    args = ["train", "--data", str(data), "--format", "sequences", "--out", str(tmp_path / "m.pt")]
    done = subprocess.run(
        [sys.executable, "-m", "streamrec.stream.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(SERVE_ONLY)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        "streamrec train: error: this command needs the training extra, which this install "
        "lacks (no module 'torch'): pip install 'streamrec[train]'"
    ]
