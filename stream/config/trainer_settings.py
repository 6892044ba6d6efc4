"""The trainer process's settings: one frozen object from ``STREAMREC_*`` env and CLI flags.

What it shares with the workers (broker, deployment id, topics, models-topic trust, input
limits) is :class:`~.base.DeploymentSettings`, so one environment configures a whole deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from streamrec.stream.config.base import DeploymentSettings


class TrainerSettings(DeploymentSettings):
    """Every knob of online fine-tuning, documented per field (shared ones in the base)."""

    model_config = SettingsConfigDict(env_prefix="STREAMREC_", frozen=True, extra="ignore")

    models_topic: str = Field(
        ...,
        description="Compacted topic the trainer publishes versions to (required; the workers "
        "of the deployment follow the same STREAMREC_MODELS_TOPIC).",
    )
    checkpoint: Path | None = Field(
        None, description="Checkpoint to start from when the models topic has no version yet."
    )
    work_dir: Path = Field(
        Path(".streamrec-trainer"), description="Local copies of versions and candidates."
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

    # --- HTTP (metrics, health) --------------------------------------------------------------
    web_host: str = Field(
        "127.0.0.1", description="Trainer HTTP bind address (0.0.0.0: every interface)."
    )
    web_port: int = Field(
        6067,
        ge=0,
        le=65535,
        description="Trainer HTTP port: /metrics, /health (503 once the loop is stuck), /ready. "
        "0: a free port chosen by the system.",
    )
    stalled_after_s: float | None = Field(
        None,
        gt=0,
        description="/health answers 503 when the loop has not gone round for this long. "
        "Unset: 3 x STREAMREC_TIME_BUDGET_S + 300 s (a round blocks the loop).",
    )

    @property
    def stale_after_s(self) -> float:
        """How long the loop may stand still before /health fails."""
        if self.stalled_after_s is not None:
            return self.stalled_after_s
        return 3 * self.time_budget_s + 300.0


def load_trainer_settings(**overrides: Any) -> TrainerSettings:
    """Settings from the environment, explicit overrides (CLI flags) on top."""
    return TrainerSettings(**{k: v for k, v in overrides.items() if v is not None})
