"""Broker tier: a worker started with STREAMREC_LOG_FORMAT=json writes only JSON log lines.

From the first line to the last (start-up, Faust's and aiokafka's lines, the shutdown), each
line of the process's output is one JSON object with time, level, logger and message.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.support.kafka import Broker, free_port
from tests.support.stream import Worker, event_json, produce, worker_settings


def test_json_logs_from_start_to_stop(broker: Broker, tiny_bundle: Path, tmp_path: Path) -> None:
    s = {**worker_settings(tmp_path, tiny_bundle), "log_format": "json", "log_level": "INFO"}
    log = tmp_path / "worker.log"
    worker = Worker(broker.bootstrap, log, free_port(), **s).start()
    try:
        worker.wait_ready()
        produce(broker.bootstrap, str(s["events_topic"]), [(b"u1", event_json("u1", "i1"))])
    finally:
        assert worker.stop() == 0
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) > 10  # INFO: start-up, assignment, recovery, shutdown
    for line in lines:
        obj = orjson.loads(line)
        assert {"time", "level", "logger", "message"} <= set(obj), line
    loggers = {orjson.loads(line)["logger"] for line in lines}
    assert any(name.startswith("streamrec") for name in loggers)
    assert any(name.startswith(("faust", "mode", "aiokafka")) for name in loggers)
