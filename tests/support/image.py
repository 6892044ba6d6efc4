"""The worker image under podman: build it with deploy/docker/build.sh, run containers.

The machine is prepared by ``deploy/docker/install-podman.sh`` (``make test`` runs it): podman,
the Debian base image and, where the default runtime cannot start containers, a runtime
configuration that can.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE = "localhost/streamrec-base:bookworm"


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Run ``podman ARGS``; its stdout (stderr in the failure message)."""
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} -> {done.returncode}: {done.stderr[-3000:]}")
    return done.stdout.strip()


def build_image(bundle: Path, tag: str) -> None:
    """Build the serve image from this checkout on the Debian base (a few minutes when cold)."""
    script = str(REPO / "deploy" / "docker" / "build.sh")
    done = subprocess.run(
        [script, "--bundle", str(bundle), "--tag", tag, "--base", BASE, "--host-pip"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
