"""The settings of one chaos run: a typed, frozen object built by the CLI and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"


@dataclass(frozen=True)
class ChaosConfig:
    """How hard and how long to shake the system (defaults: the long run)."""

    kills: int = 20  # SIGKILLs of a random worker, each restarted
    bounces: int = 5  # broker node-stop / node-start cycles
    workers: int = 3  # worker processes at the start (one is added and one removed later)
    rate: float = 40.0  # events per second sent while the faults run
    users: int = 100  # distinct user ids (keys)
    seed: int = 0
    poison_every: int = 20  # one message in this many is poison
    partitions: int = 4  # partitions of every created topic
    standby_replicas: int = 0
    session_timeout_s: float = 6.0  # a killed worker's partitions move after this
    commit_interval_s: float = 0.5
    fault_interval_s: float = 4.0  # pause between one fault's recovery and the next fault
    fresh_dir_every: int = 3  # about one restart in this many starts on an empty directory
    bounce_down_s: float = 5.0  # how long a bounced broker stays down
    ready_timeout_s: float = 180.0  # longest wait for the fleet to be ready again
    settle_timeout_s: float = 240.0  # longest wait for every input to be committed at the end
    work_dir: Path | None = None  # None: a fresh temporary directory
    keep: bool = False  # keep logs, state and the cluster's data after the run
    kafka_sh: Path = KAFKA_SH
    worker_log_level: str = "INFO"  # INFO: the group generations counted as rebalances

    def __post_init__(self) -> None:
        if self.workers < 1 or self.kills < 0 or self.bounces < 0:
            raise ValueError("need at least one worker and non-negative fault counts")
        if self.rate <= 0 or self.users < 1 or self.poison_every < 2:
            raise ValueError("rate and users must be positive, poison_every at least 2")
