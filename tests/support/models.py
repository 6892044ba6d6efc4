"""The one builder of tiny real models for tests: seeded, untrained, exported when asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamrec.models.nets.checkpoint import Checkpoint


def tiny_checkpoint(
    items: Sequence[str] | None = None,
    *,
    n_items: int = 60,
    seed: int = 0,
    hidden_dim: int = 32,
    spread: bool = False,
    metrics: dict[str, float] | None = None,
    **config: Any,
) -> Checkpoint:
    """An untrained GRU over ``items`` (default ``i0..i{n_items-1}``), 16-wide embeddings.

    ``spread`` widens item scores so random models have few near-ties (export parity tests);
    ``config`` passes further :class:`RecurrentConfig` fields (``cell``, ``skip``, ``dropout``).
    """
    import torch

    from streamrec.models.data.vocab import Vocabulary
    from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender

    torch.manual_seed(seed)
    vocab = Vocabulary.build(
        list(items) if items is not None else [f"i{i}" for i in range(n_items)]
    )
    cfg = RecurrentConfig(num_items=vocab.capacity, embed_dim=16, hidden_dim=hidden_dim, **config)
    model = RecurrentRecommender(cfg).eval()
    if spread:
        with torch.no_grad():
            model.item_bias.normal_(0, 1.0)
            model.item_embedding.weight.normal_(0, 0.5)
            if model.skip is not None:  # zero at init: make the input skip really contribute
                model.skip.weight.normal_(0, 0.5)
    if metrics is not None:
        return Checkpoint(cfg, model.state_dict(), vocab, metrics=metrics)
    return Checkpoint(cfg, model.state_dict(), vocab)


def tiny_bundle_at(
    out: Path, n_items: int = 60, version: str = "tiny-1", seed: int = 0, k: int = 10
) -> Path:
    """Export :func:`tiny_checkpoint` (items ``i0..``) to a verified bundle at ``out``."""
    from streamrec.export.onnx_export import export_checkpoint

    ckpt = tiny_checkpoint(n_items=n_items, seed=seed)
    export_checkpoint(ckpt, out, k=k, version=version, overwrite=True)
    return out


def generated_and_trained(tmp_path: Path, seed: int, events: int = 2000) -> tuple[Path, Path]:
    """``streamrec generate`` events (80 users, 30 items) and a 1-epoch checkpoint on them."""
    from streamrec.stream.cli.main import main

    data, ckpt = tmp_path / "events.csv", tmp_path / "m.pt"
    generate = ["generate", "--out", str(data), "--users", "80", "--items", "30"]
    assert main([*generate, "--events", str(events), "--seed", str(seed)]) == 0
    train = ["train", "--data", str(data), "--format", "csv", "--out", str(ckpt)]
    assert main([*train, "--epochs", "1", "--embed-dim", "8", "--hidden-dim", "8"]) == 0
    return data, ckpt
