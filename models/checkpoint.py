"""Checkpoints: ``state_dict`` + model config + vocabulary + metrics, never a pickled object.

:class:`Checkpoint` holds the recurrent (served) model; :class:`AttentionCheckpoint` the
SASRec baseline in the same file format (``"model"`` field tells them apart), and
:func:`load_any` reads either for evaluation.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.gru import RecurrentConfig, RecurrentRecommender
from models.sasrec import SASRecConfig, SASRecRecommender
from models.vocab import Vocabulary

FORMAT = "streamrec-checkpoint/1"


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
        return _write(
            path,
            "recurrent",
            self.config.to_dict(),
            self.state_dict,
            self.vocab,
            self.metrics,
            self.train_config,
        )

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """Read a checkpoint with ``weights_only=True`` (no code is unpickled)."""
        payload = _read(path)
        if payload.get("model", "recurrent") != "recurrent":
            raise CheckpointError(f"{path} holds a {payload['model']} model, not a recurrent one")
        return cls(
            config=RecurrentConfig.from_dict(payload["config"]),
            state_dict=payload["state_dict"],
            vocab=Vocabulary.from_json(payload["vocab"].encode()),
            metrics=payload.get("metrics", {}),
            train_config=payload.get("train_config", {}),
        )


@dataclass
class AttentionCheckpoint:
    """A trained SASRec baseline (evaluated offline; not served by the stream worker)."""

    config: SASRecConfig
    state_dict: dict[str, torch.Tensor]
    vocab: Vocabulary
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)

    def build_model(self) -> SASRecRecommender:
        """Rebuild the torch model (eval mode, CPU)."""
        model = SASRecRecommender(self.config)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(f"weights do not match the stored config: {exc}") from exc
        return model.eval()

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, then rename)."""
        return _write(
            path,
            "sasrec",
            self.config.to_dict(),
            self.state_dict,
            self.vocab,
            self.metrics,
            self.train_config,
        )

    @classmethod
    def load(cls, path: str | Path) -> AttentionCheckpoint:
        """Read with ``weights_only=True``."""
        payload = _read(path)
        if payload.get("model") != "sasrec":
            raise CheckpointError(f"{path} does not hold a SASRec model")
        return cls(
            config=SASRecConfig.from_dict(payload["config"]),
            state_dict=payload["state_dict"],
            vocab=Vocabulary.from_json(payload["vocab"].encode()),
            metrics=payload.get("metrics", {}),
            train_config=payload.get("train_config", {}),
        )


def load_any(path: str | Path) -> Checkpoint | AttentionCheckpoint:
    """Either kind of checkpoint, by its ``model`` field."""
    payload = _read(path)
    if payload.get("model", "recurrent") == "sasrec":
        return AttentionCheckpoint.load(path)
    return Checkpoint.load(path)


def _write(
    path: str | Path,
    model: str,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    vocab: Vocabulary,
    metrics: dict[str, Any],
    train_config: dict[str, Any],
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model": model,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "vocab": vocab.to_json().decode(),
        "metrics": metrics,
        "train_config": train_config,
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


def _read(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad files
        raise CheckpointError(f"{path} is not a streamrec checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a streamrec checkpoint (format field missing)")
    return payload
