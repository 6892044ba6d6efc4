"""A worker runs with only the ``serve`` extra: torch, onnx, matplotlib and pyarrow unimportable
(tests/support/serve_only), events in, recommendations out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.kafka import Broker, free_port
from tests.support.stream import REPO, Worker, event_json, produce, read_topic, worker_settings

SERVE_ONLY = REPO / "tests" / "support" / "serve_only"


def serve_only_path() -> str:
    return os.pathsep.join([str(SERVE_ONLY), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def test_the_blocker_hides_the_train_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import torch"],
        env={**os.environ, "PYTHONPATH": serve_only_path()},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "No module named 'torch'" in done.stderr


def test_a_worker_serves_with_only_the_serve_extra(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = worker_settings(tmp_path, tiny_bundle)
    worker = Worker(broker.bootstrap, tmp_path / "worker.log", free_port(), **s)
    worker.env["PYTHONPATH"] = serve_only_path()
    worker.start()
    try:
        worker.wait_ready()
        users = [f"u{n}" for n in range(8)]
        produce(
            broker.bootstrap,
            str(s["events_topic"]),
            [(u.encode(), event_json(u, f"i{n}")) for n, u in enumerate(users)],
        )
        recs = read_topic(broker.bootstrap, str(s["recommendations_topic"]), len(users))
        assert sorted(r["user_id"] for r in recs) == users
    finally:
        worker.stop()
