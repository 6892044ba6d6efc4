"""The local 3-broker Kafka cluster of a chaos run, driven through ``deploy/kafka/kafka.sh``."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

NODES = (1, 2, 3)


class ClusterError(RuntimeError):
    """Raised when kafka.sh fails to start, stop or bounce a node."""


class Cluster:
    """Three brokers (and controllers) on loopback, with their data under ``data_dir``."""

    def __init__(self, kafka_sh: Path, data_dir: Path, base_port: int) -> None:
        self.kafka_sh = kafka_sh
        self.data_dir = data_dir
        self.base_port = base_port
        self.started = False

    @property
    def bootstrap(self) -> str:
        """The three brokers' host:port, comma-separated."""
        return ",".join(f"127.0.0.1:{self.base_port + n - 1}" for n in NODES)

    def _run(self, *args: str) -> None:
        cmd = [str(self.kafka_sh), *args, "--dir", str(self.data_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ClusterError(
                f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}"
            )

    def start(self) -> None:
        """Start all three nodes and wait until they take clients."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.started = True  # a half-started cluster is still stopped by stop()
        self._run("cluster-start", "--port", str(self.base_port))
        log.info("cluster ready on %s", self.bootstrap)

    def node_stop(self, node: int) -> None:
        """Stop one node cleanly (SIGTERM, controlled shutdown)."""
        self._run("node-stop", str(node))

    def node_start(self, node: int) -> None:
        """Start one stopped node again and wait until it takes clients."""
        self._run("node-start", str(node))

    def stop(self) -> None:
        """Stop every node (safe to call twice, and after a failed start)."""
        if self.started:
            self._run("cluster-stop")
            self.started = False
