"""The model the chaos workers serve: a tiny seeded GRU step bundle over items i0..i{n-1}.

Untrained on purpose: the harness checks delivery and state, not ranking quality, and a
tiny model keeps the per-event step cheap on a small machine.
"""

from __future__ import annotations

from pathlib import Path

ITEMS = 60


def item_ids(n_items: int = ITEMS) -> list[str]:
    """The item ids the bundle knows (the load only sends these)."""
    return [f"i{n}" for n in range(n_items)]


def build_bundle(out: Path, n_items: int = ITEMS, seed: int = 0) -> Path:
    """Export and verify the bundle into ``out`` (torch is imported here only)."""
    import torch

    from streamrec.export.onnx_export import export_checkpoint
    from streamrec.models.data.vocab import Vocabulary
    from streamrec.models.nets.checkpoint import Checkpoint
    from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender

    torch.manual_seed(seed)
    vocab = Vocabulary.build(item_ids(n_items))
    config = RecurrentConfig(num_items=vocab.capacity, embed_dim=16, hidden_dim=32)
    model = RecurrentRecommender(config)
    checkpoint = Checkpoint(model.config, model.state_dict(), vocab)
    export_checkpoint(checkpoint, out, k=10, version="chaos-1", overwrite=True)
    return out
