"""Shared pieces of the stream tests: a real tiny ONNX bundle, event builders, worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[1]
N_ITEMS = 60


def build_tiny_bundle(
    out: Path, n_items: int = N_ITEMS, version: str = "tiny-1", seed: int = 0
) -> Path:
    """Export a real (untrained, seeded) tiny GRU step bundle with items i0..i{n-1}."""
    import torch

    from export.onnx_export import export_checkpoint
    from models.checkpoint import Checkpoint
    from models.gru import RecurrentConfig, RecurrentRecommender
    from models.vocab import Vocabulary

    torch.manual_seed(seed)
    vocab = Vocabulary.build([f"i{i}" for i in range(n_items)])
    model = RecurrentRecommender(
        RecurrentConfig(num_items=vocab.capacity, embed_dim=16, hidden_dim=32)
    )
    ckpt = Checkpoint(model.config, model.state_dict(), vocab)
    export_checkpoint(ckpt, out, k=10, version=version, overwrite=True)
    return out


def event_json(
    user: str, item: str, action: str = "click", ts: float = 1_700_000_000.0, **extra: object
) -> bytes:
    """One input event as the wire format."""
    return orjson.dumps({"user_id": user, "item_id": item, "action": action, "ts": ts, **extra})


def worker_env(bootstrap: str, **settings: object) -> dict[str, str]:
    """Environment for a ``streamrec worker`` subprocess."""
    env = dict(os.environ)
    env["STREAMREC_BOOTSTRAP"] = bootstrap
    for key, value in settings.items():
        env[f"STREAMREC_{key.upper()}"] = str(value)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def start_worker(
    env: dict[str, str], log: Path, args: Iterable[str] = ()
) -> subprocess.Popen[bytes]:
    """Start ``streamrec worker`` as a separate process, logging to ``log``."""
    fh = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "worker", *args],
        cwd=REPO,
        env=env,
        stdout=fh,
        stderr=subprocess.STDOUT,
    )


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny bundle, exported once per test session (import this fixture to use it)."""
    out = tmp_path_factory.getbasetemp() / "tiny-bundle"
    if not (out / "manifest.json").exists():
        build_tiny_bundle(out)
    return out
