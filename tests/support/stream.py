"""Shared pieces of the stream tests: a real tiny ONNX bundle, event builders, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from streamrec.stream.tools.chaos.fleet import settled

REPO = Path(__file__).resolve().parents[2]
N_ITEMS = 60


def event_json(
    user: str, item: str, action: str = "click", ts: float = 1_700_000_000.0, **extra: object
) -> bytes:
    """One input event as the wire format."""
    return orjson.dumps({"user_id": user, "item_id": item, "action": action, "ts": ts, **extra})


def worker_settings(
    tmp_path: Path, bundle: Path, partitions: int = 2, prefix: str = "app", **extra: object
) -> dict[str, object]:
    """Settings of a test worker: its own app id, topics and state directory."""
    from tests.support.kafka import unique_name

    app = unique_name(prefix)
    return {
        "app_id": app,
        "events_topic": f"{app}-events",
        "recommendations_topic": f"{app}-recs",
        "dead_letter_topic": f"{app}-dead",
        "partitions": partitions,
        "bundle": bundle,
        "data_dir": tmp_path / "state",
        "batch_within_s": 0.02,
        # STREAMREC_TEST_WORKER_LOG_LEVEL=INFO shows Faust's rebalances and recovery in the logs.
        "log_level": os.environ.get("STREAMREC_TEST_WORKER_LOG_LEVEL", "WARNING"),
        **extra,
    }


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
        [sys.executable, "-m", "streamrec.stream.cli", "worker", *args],
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


class Worker:
    """A ``streamrec worker`` subprocess with its own HTTP port and state directory."""

    def __init__(self, bootstrap: str, log: Path, port: int, **settings: object) -> None:
        self.port = port
        self.log = log
        self.env = worker_env(bootstrap, web_port=port, **settings)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        self.proc = start_worker(self.env, self.log)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(
        self, path: str, timeout: float = 5.0, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url(path), headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"worker exited with {self.proc.returncode}; see {self.log}")
        try:
            return settled(*self.get("/ready", timeout=1.0))  # ready, no rebalance under way
        except OSError:
            return False

    def wait_ready(self, timeout: float = 90.0) -> Worker:
        wait_until(self.ready, timeout, 0.5, f"worker on :{self.port} to be ready")
        return self

    def metric(self, name: str) -> float:
        """Sum of a Prometheus sample family (all labels)."""
        _, body = self.get("/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def samples(self, name: str) -> dict[str, float]:
        """One Prometheus sample family: the label set as written (``{a="x",b="y"}``) -> value."""
        _, body = self.get("/metrics")
        found = {}
        for line in body.decode().splitlines():
            if line.startswith(name + "{"):
                labels, value = line[len(name) :].rsplit(" ", 1)
                found[labels] = float(value)
        return found

    def dump(self) -> str:
        """Have the worker log its tasks and consumer state (SIGUSR1); the log's tail after."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
        text = self.log.read_text(errors="replace")
        start = text.rfind("diagnostic dump")
        return text[max(start, len(text) - 4000) if start < 0 else start :][:30000]

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def worker_pair(
    bootstrap: str, tmp_path: Path, settings: dict[str, object]
) -> tuple[Worker, Worker]:
    """Two workers of one group, each with its own state directory, log and HTTP port."""
    from tests.support.kafka import free_port

    a, b = (
        Worker(
            bootstrap,
            tmp_path / f"{name}.log",
            free_port(),
            **{**settings, "data_dir": tmp_path / name},
        )
        for name in ("a", "b")
    )
    return a, b


def start_group(first: Worker, second: Worker) -> None:
    """Start two workers of one group, the second joining once the first serves; both ready."""
    first.start().wait_ready()
    second.start()
    time.sleep(2)  # the second joins: a rebalance follows
    first.wait_ready()
    second.wait_ready()


def read_topic(
    bootstrap: str, topic: str, until: int, timeout: float = 60.0, meta: bool = False
) -> list[dict[str, Any]]:
    """All JSON records of ``topic`` from the start, waiting until there are ``until`` of them.

    ``meta``: add each record's ``_key``, ``_partition`` and ``_partitions`` (the topic's count).
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=1000)
    try:
        parts = wait_until(lambda: consumer.partitions_for_topic(topic), 30, 0.5, topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < until and time.monotonic() < deadline:
            for msg in consumer:
                record = orjson.loads(msg.value)
                if meta:
                    record.update(_key=msg.key, _partition=msg.partition, _partitions=len(tps))
                out.append(record)
        return out
    finally:
        consumer.close()


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    rate: float = 0.0,
    positions: list[tuple[int, int]] | None = None,
) -> int:
    """Send ``(key, value)`` messages (keyed: Kafka's default partitioner), optionally paced."""
    from kafka import KafkaProducer

    prod = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all")
    start = time.perf_counter()
    n = 0
    try:
        for key, value in messages:
            fut = prod.send(topic, key=key, value=value)
            if positions is not None:
                fut.add_callback(lambda md: positions.append((md.partition, md.offset)))
            n += 1
            if rate > 0:
                ahead = n / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
        prod.flush()
    finally:
        prod.close()
    return n
