"""Checkpoints: ``state_dict`` + model config + vocabulary + metrics, never a pickled object."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.gru import RecurrentConfig, RecurrentRecommender
from models.vocab import Vocabulary


class CheckpointError(RuntimeError):
    """Raised when a checkpoint cannot be read or does not match its config."""


@dataclass
class Checkpoint:
    """A trained recurrent model with what is needed to serve it."""

    config: RecurrentConfig
    state_dict: dict[str, torch.Tensor]
    vocab: Vocabulary
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)

    def build_model(self) -> RecurrentRecommender:
        """Rebuild the torch model (eval mode, CPU)."""
        model = RecurrentRecommender(self.config)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(f"weights do not match the stored config: {exc}") from exc
        return model.eval()

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": "streamrec-checkpoint/1",
            "config": self.config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "vocab": self.vocab.to_json().decode(),
            "metrics": self.metrics,
            "train_config": self.train_config,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
        try:
            torch.save(payload, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """Read a checkpoint with ``weights_only=True`` (no code is unpickled)."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"no checkpoint at {path}")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for bad files
            raise CheckpointError(f"{path} is not a streamrec checkpoint: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != "streamrec-checkpoint/1":
            raise CheckpointError(f"{path} is not a streamrec checkpoint (format field missing)")
        return cls(
            config=RecurrentConfig.from_dict(payload["config"]),
            state_dict=payload["state_dict"],
            vocab=Vocabulary.from_json(payload["vocab"].encode()),
            metrics=payload.get("metrics", {}),
            train_config=payload.get("train_config", {}),
        )
