"""The trainer process's settings: one frozen object from ``STREAMREC_*`` env and CLI flags.

The Kafka names (``bootstrap``, ``app_id``, ``events_topic``, ``models_topic``) read the same
variables as the worker's settings, so one environment configures a whole deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamrec.stream.config.settings import SigningKey


class TrainerSettings(BaseSettings):
    """Every knob of online fine-tuning, documented per field."""

    model_config = SettingsConfigDict(env_prefix="STREAMREC_", frozen=True, extra="ignore")

    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    app_id: str = Field("streamrec", description="Deployment id; the trainer group derives it.")
    events_topic: str = Field("streamrec-events", description="Input events the trainer reads.")
    models_topic: str = Field(
        "streamrec-models", description="Compacted topic of versions, chunks and serving history."
    )
    checkpoint: Path | None = Field(
        None, description="Checkpoint to start from when the models topic has no version yet."
    )
    work_dir: Path = Field(
        Path(".streamrec-trainer"), description="Local copies of versions and candidates."
    )

    # --- model distribution --------------------------------------------------------------------
    models_signing_key: SigningKey | None = Field(
        None,
        description="HMAC-SHA256 key the trainer signs versions and serving records with, and "
        "verifies the topic with (at least 16 characters; the workers' must match). Unset: "
        "nothing is signed (a warning is logged once).",
    )
    models_keep_versions: int = Field(
        5,
        ge=1,
        description="After each promotion, versions older than the last N promoted are "
        "tombstoned on the topic (never the serving one); only their archives stay in memory.",
    )
    models_max_archive_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1024 * 1024,
        description="Largest version archive accepted from the models topic (bytes).",
    )

    # --- replay window and cadence -----------------------------------------------------------
    window_events: int = Field(20_000, ge=10, description="Most events kept for fine-tuning.")
    window_s: float = Field(
        6 * 3600.0, gt=0, description="Oldest event kept, seconds before the newest (event time)."
    )
    train_every_s: float = Field(300.0, gt=0, description="Fine-tune at least this often...")
    train_every_events: int = Field(
        5_000, ge=1, description="...or as soon as this many new events arrived."
    )
    min_new_events: int = Field(
        50, ge=1, description="A timed round is skipped with fewer new events than this."
    )
    holdout_share: float = Field(
        0.2, gt=0, lt=1, description="Newest share of the window held out for the gate."
    )

    # --- fine-tuning ---------------------------------------------------------------------------
    epochs: int = Field(3, ge=1, description="Passes over the window per round.")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate of fine-tuning.")
    batch_size: int = Field(64, ge=1, description="Sequences per optimizer step.")
    time_budget_s: float = Field(120.0, ge=0, description="Longest fine-tuning (0: no limit).")

    # --- gate ----------------------------------------------------------------------------------
    gate_k: int = Field(10, ge=1, description="K of the gate's HR@K and NDCG@K.")
    tolerance: float = Field(0.05, ge=0, description="Relative HR/NDCG drop still promoted.")
    auc_tolerance: float = Field(0.02, ge=0, description="Absolute buy-AUC drop still promoted.")
    min_gate_events: int = Field(20, ge=1, description="Fewer held-out predictions: rejected.")

    # --- export --------------------------------------------------------------------------------
    k: int = Field(20, ge=1, description="Items the exported step graph returns.")
    exporter: Literal["dynamo", "torchscript"] = Field(
        "torchscript",
        description="ONNX exporter for candidates (torchscript exports ~10x faster here; "
        "both are verified against torch).",
    )
    poll_s: float = Field(0.5, gt=0, description="Longest wait for events per poll.")
    session_timeout_s: float = Field(
        10.0, gt=0, description="Trainer group session timeout: how soon a standby takes over."
    )

    @property
    def lease_topic(self) -> str:
        """Single-partition topic whose one partition is the trainer lease."""
        return f"{self.app_id}-trainer-lease"

    @property
    def lease_group(self) -> str:
        """Consumer group of all trainers of this deployment."""
        return f"{self.app_id}-trainer"


def load_trainer_settings(**overrides: Any) -> TrainerSettings:
    """Settings from the environment, explicit overrides (CLI flags) on top."""
    return TrainerSettings(**{k: v for k, v in overrides.items() if v is not None})
