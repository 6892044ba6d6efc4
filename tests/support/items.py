"""Shared pieces of the item-text tests: the exported encoder, tiny models with a projection."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.text_side import TextSide
from tests.support.models import tiny_checkpoint

N_ITEMS = 60


class HashEncoder:
    """A stand-in for streamrec.models.text.encoder.TextEncoder: a fixed unit vector per text."""

    def __init__(self, dim: int = 8) -> None:
        self.dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.empty((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            v = np.random.default_rng(seed).normal(size=self.dim)
            out[i] = v / np.linalg.norm(v)
        return out


def top_direction(ckpt: Checkpoint) -> np.ndarray:
    """Item vector ``(E,)`` of the top item after one click on the first item from zero state.

    (An untrained model scores every user alike, so this item tops most users' lists.)
    """
    import torch

    from streamrec.models.data.vocab import RESERVED

    model = ckpt.build_model()
    with torch.no_grad():
        scores, _, _ = model.step(
            torch.tensor([RESERVED]), torch.ones(1, dtype=torch.long), model.initial_state(1)
        )
        top = RESERVED + int(scores[0, RESERVED : ckpt.vocab.size].argmax())
        direction: np.ndarray = model.item_embedding.weight[top].numpy().copy()
    return direction


def aiming_side(ckpt: Checkpoint, text: np.ndarray, scale: float = 100.0) -> TextSide:
    """A projection sending the embedding ``text`` ``(T,)`` to ``scale`` x the model's top item.

    (A random projection could land a new item last for everyone; this one makes it a top
    item, which is what the plumbing tests need.)
    """
    direction = top_direction(ckpt)
    weight = scale * np.outer(direction, text).astype(np.float32)  # (E, T): t -> scale * dir
    return TextSide("sum", weight, np.zeros(len(direction), np.float32))


def text_bundle(
    out: Path, text: np.ndarray | None, seed: int = 0, version: str = "text-1", index: bool = False
) -> Path:
    """Export a tiny model whose bundle carries :func:`aiming_side` for ``text`` (None: none).

    ``index`` adds an item index (its query graph is always a dynamo export).

    TorchScript export: a tenth of a second against seconds for dynamo, and the item-row code
    reads the same initializers from either (dynamo bundles: tests/unit/test_export_bundle.py).
    """
    from dataclasses import replace

    from streamrec.export.onnx_export import export_checkpoint

    ckpt = tiny_checkpoint(seed=seed)
    if text is not None:
        ckpt = replace(ckpt, text_side=aiming_side(ckpt, text))
    export_checkpoint(
        ckpt,
        out,
        k=10,
        version=version,
        encode=False,
        exporter="torchscript",
        overwrite=True,
        index=index,
    )
    return out
