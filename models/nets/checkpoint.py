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
from typing import Any, ClassVar, Generic, TypeVar

import torch

from streamrec.models.data.vocab import Vocabulary
from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender
from streamrec.models.nets.neighbours import Blend
from streamrec.models.nets.sasrec import SASRecConfig, SASRecRecommender
from streamrec.models.nets.text_side import TextSide

FORMAT = "streamrec-checkpoint/1"


class CheckpointError(RuntimeError):
    """Raised when a checkpoint cannot be read or does not match its config."""


ConfigT = TypeVar("ConfigT", RecurrentConfig, SASRecConfig)
ModelT = TypeVar("ModelT", RecurrentRecommender, SASRecRecommender)


@dataclass
class _Stored(Generic[ConfigT, ModelT]):
    """What both checkpoint kinds hold; subclasses name the model class and kind."""

    config: ConfigT
    state_dict: dict[str, torch.Tensor]
    vocab: Vocabulary
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = ""

    def _fresh(self) -> ModelT:
        raise NotImplementedError

    def _extra(self) -> dict[str, Any]:
        return {}

    def build_model(self) -> ModelT:
        """Rebuild the torch model (eval mode, CPU)."""
        model = self._fresh()
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(f"weights do not match the stored config: {exc}") from exc
        return model.eval()

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, then rename)."""
        payload = {
            "format": FORMAT,
            "model": self.kind,
            "config": self.config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "vocab": self.vocab.to_json().decode(),
            "metrics": self.metrics,
            "train_config": self.train_config,
            **self._extra(),
        }
        return _write(path, payload)


def _common(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "state_dict": payload["state_dict"],
        "vocab": Vocabulary.from_json(payload["vocab"].encode()),
        "metrics": payload.get("metrics", {}),
        "train_config": payload.get("train_config", {}),
    }


@dataclass
class Checkpoint(_Stored[RecurrentConfig, RecurrentRecommender]):
    """A trained recurrent model with what is needed to serve it.

    ``text_side``: the learned text projection of a model trained with item text (its item
    table is already the fused one); serving uses it to give a brand-new item a row.
    ``blend``: item-to-item transitions added to the model's scores (``streamrec evaluate
    --neighbours --save``); export puts them into the step graph.
    """

    text_side: TextSide | None = None
    blend: Blend | None = None
    kind: ClassVar[str] = "recurrent"

    def _fresh(self) -> RecurrentRecommender:
        return RecurrentRecommender(self.config)

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.text_side is not None:
            arrays = {k: torch.from_numpy(v) for k, v in self.text_side.arrays().items()}
            extra["text_side"] = {"fusion": self.text_side.fusion, **arrays}
        if self.blend is not None:
            if self.blend.table.rows > self.config.num_items:
                raise CheckpointError(
                    f"transition table has {self.blend.table.rows} rows, "
                    f"the model {self.config.num_items}"
                )
            extra["blend"] = self.blend.to_payload()
        return extra

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """Read a checkpoint with ``weights_only=True`` (no code is unpickled)."""
        payload = _read(path)
        if payload.get("model", "recurrent") != "recurrent":
            raise CheckpointError(f"{path} holds a {payload['model']} model, not a recurrent one")
        side = payload.get("text_side")
        blend = payload.get("blend")
        try:
            stored_blend = None if blend is None else Blend.from_payload(blend)
        except (KeyError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{path}: unreadable transition table: {exc}") from exc
        return cls(
            config=RecurrentConfig.from_dict(payload["config"]),
            text_side=None if side is None else _text_side(side),
            blend=stored_blend,
            **_common(payload),
        )


@dataclass
class AttentionCheckpoint(_Stored[SASRecConfig, SASRecRecommender]):
    """A trained SASRec baseline (evaluated offline; not served by the stream worker)."""

    kind: ClassVar[str] = "sasrec"

    def _fresh(self) -> SASRecRecommender:
        return SASRecRecommender(self.config)

    @classmethod
    def load(cls, path: str | Path) -> AttentionCheckpoint:
        """Read with ``weights_only=True``."""
        payload = _read(path)
        if payload.get("model") != "sasrec":
            raise CheckpointError(f"{path} does not hold a SASRec model")
        return cls(config=SASRecConfig.from_dict(payload["config"]), **_common(payload))


def _text_side(stored: dict[str, Any]) -> TextSide:
    arrays = {k: v.numpy() for k, v in stored.items() if isinstance(v, torch.Tensor)}
    return TextSide.from_arrays(str(stored["fusion"]), arrays)


def load_any(path: str | Path) -> Checkpoint | AttentionCheckpoint:
    """Either kind of checkpoint, by its ``model`` field."""
    payload = _read(path)
    if payload.get("model", "recurrent") == "sasrec":
        return AttentionCheckpoint.load(path)
    return Checkpoint.load(path)


def _write(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
