"""The local 3-broker Kafka cluster of a chaos run, driven through ``deploy/kafka/kafka.sh``."""

from __future__ import annotations

import logging
import socket
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

NODES = (1, 2, 3)
CONTROLLER_OFFSET = 1000  # kafka.sh puts node n's controller on base + 999 + n


class ClusterError(RuntimeError):
    """Raised when kafka.sh fails to start, stop or bounce a node."""


def _taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_base_port(start: int = 42000, stop: int = 60000, step: int = 41) -> int:
    """A base port P with P..P+2 and the controllers' P+1000..P+1002 all free."""
    for base in range(start, stop, step):
        ports = (*range(base, base + 3), *range(base + CONTROLLER_OFFSET, base + 1003))
        if not any(_taken(p) for p in ports):
            return base
    raise ClusterError("no free port range for a 3-broker cluster")


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
