"""``streamrec trainer`` as a process: its HTTP endpoints answer, it takes the lease, it
stops cleanly on SIGTERM, and ``STREAMREC_LOG_FORMAT=json`` makes every log line JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.kafka import Broker, free_port, unique_name
from tests.support.stream import REPO, wait_until


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_trainer_serves_metrics_health_and_ready(broker: Broker, tmp_path: Path) -> None:
    app, port = unique_name("trainer"), free_port()
    env = {
        **os.environ,
        "STREAMREC_BOOTSTRAP": broker.bootstrap,
        "STREAMREC_APP_ID": app,
        "STREAMREC_EVENTS_TOPIC": f"{app}-events",
        "STREAMREC_MODELS_TOPIC": f"{app}-models",
        "STREAMREC_WORK_DIR": str(tmp_path / "work"),
        "STREAMREC_WEB_PORT": str(port),
        "STREAMREC_SESSION_TIMEOUT_S": "6",
        "STREAMREC_LOG_FORMAT": "json",
        "STREAMREC_LOG_LEVEL": "INFO",
    }
    log = (tmp_path / "trainer.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamrec.stream.cli", "trainer"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: get(port, "/ready")[0] == 200, 60, 0.5, "trainer /ready")
        wait_until(
            lambda: "streamrec_trainer_active 1.0" in get(port, "/metrics")[1],
            60,
            0.5,
            "the lease",
        )
        status, body = get(port, "/health")
        assert status == 200 and '"active":true' in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        lines = (tmp_path / "trainer.log").read_text().splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
        assert any(r["logger"].startswith("streamrec.stream.trainer") for r in records), records
        stray = [line for line in lines if line.strip() and not line.startswith("{")]
        assert not stray, stray[:5]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
