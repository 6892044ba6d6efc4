"""Real-broker helpers for tests: start one through the project's scripts, or reuse one."""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic

from streamrec.stream.config.kafka import KafkaConnection
from streamrec.stream.tools import ports

REPO = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"


def free_port() -> int:
    """A free loopback port below the ephemeral range (a worker's web view)."""
    return ports.free_port()


def free_broker_port() -> int:
    """A port for a single broker: it listens there and its controller 1000 above."""
    return ports.free_ports(ports.BROKER_OFFSETS)


@dataclass
class Broker:
    """Where a test broker listens, and whether this session started it."""

    bootstrap: str
    data_dir: Path | None = None

    @property
    def kafka(self) -> KafkaConnection:
        """How clients reach it (plaintext, no login)."""
        return KafkaConnection.plain(self.bootstrap)

    def admin(self) -> KafkaAdminClient:
        """A fresh admin client (close it after use)."""
        return KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="streamrec-tests")


@contextmanager
def local_broker() -> Iterator[Broker]:
    """The broker named by STREAMREC_BOOTSTRAP, or a fresh one started by deploy/kafka/kafka.sh."""
    named = os.environ.get("STREAMREC_BOOTSTRAP")
    if named:
        yield Broker(bootstrap=named)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="streamrec-test-kafka-"))
    port = free_broker_port()
    subprocess.run(
        [str(KAFKA_SH), "start", "--port", str(port), "--dir", str(data_dir)], check=True
    )
    try:
        yield Broker(bootstrap=f"127.0.0.1:{port}", data_dir=data_dir)
    finally:
        subprocess.run([str(KAFKA_SH), "stop", "--dir", str(data_dir)], check=False)
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)


def unique_name(prefix: str) -> str:
    """A topic/group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(
    broker: Broker, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> str:
    """Create a topic (replication 1) and wait until the broker knows it."""
    admin = broker.admin()
    try:
        admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=1,
                    topic_configs=configs or {},
                )
            ]
        )
    finally:
        admin.close()
    return name
