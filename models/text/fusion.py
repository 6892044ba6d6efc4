"""Item representations from the learned id embedding and the item's (frozen) text embedding.

:class:`TextFusedRecommender` is a :class:`~streamrec.models.nets.gru.RecurrentRecommender` whose
item table is ``fuse(id_row, P(text_row))``: ``P`` a learned linear projection of the frozen
sentence embedding, ``fuse`` a sum, a per-dimension gate or a concatenation followed by a linear
map. Rows whose item had no training interaction (``use_id = 0``) take the text part alone; rows
without text (padding, unknown, unassigned) take the id part alone.

Serving never sees this class: :func:`materialize` writes the fused table into a plain
``RecurrentRecommender`` (tied weights), so the exporter, bundle and worker are unchanged, and
:class:`~streamrec.models.nets.text_side.TextSide` (projection weights as numpy, no torch) lets the
worker compute a new item's row.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from streamrec.models.data.vocab import PAD
from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender
from streamrec.models.nets.text_side import FUSIONS, Fusion, TextSide

__all__ = ["FUSIONS", "FusedItemEmbedding", "Fusion", "TextFusedRecommender", "TextSide"]


class FusedItemEmbedding(nn.Module):
    """Drop-in for ``nn.Embedding``: ``forward(rows)`` and ``.weight`` give fused vectors."""

    text: Tensor
    has_text: Tensor
    use_id: Tensor

    def __init__(
        self, ids: nn.Embedding, text: Tensor, use_id: Tensor, fusion: Fusion, id_dropout: float
    ) -> None:
        super().__init__()
        # In training, this share of rows drops its id part, so the text part alone must
        # rank well: what an item without interactions has (the DropoutNet idea).
        self.id_dropout = id_dropout
        n, dim = ids.weight.shape
        self.ids = ids
        self.fusion = fusion
        self.register_buffer("text", text.float())  # (N, T) frozen sentence embeddings
        has = (text.abs().sum(1) > 0).float().unsqueeze(1)
        self.register_buffer("has_text", has)  # (N, 1)
        self.register_buffer("use_id", use_id.float().reshape(n, 1))  # (N, 1)
        self.proj = nn.Linear(text.shape[1], dim)
        nn.init.normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)
        self.gate = nn.Linear(text.shape[1], dim) if fusion == "gate" else None
        self.mix = nn.Linear(2 * dim, dim, bias=False) if fusion == "concat" else None
        if self.mix is not None:
            with torch.no_grad():  # start as the sum of both halves
                self.mix.weight.copy_(torch.cat([torch.eye(dim), torch.eye(dim)], dim=1))

    def fuse(self, id_vec: Tensor, text: Tensor, use_id: Tensor, has_text: Tensor) -> Tensor:
        """Fused vectors ``(..., E)`` from id rows ``(..., E)`` and text rows ``(..., T)``."""
        t = self.proj(text) * has_text  # (..., E)
        if self.training and self.id_dropout > 0:
            keep = torch.rand(use_id.shape, device=use_id.device) >= self.id_dropout
            use_id = torch.where(has_text > 0, use_id * keep.to(use_id.dtype), use_id)
        i = id_vec * use_id
        if self.gate is not None:
            g = torch.sigmoid(self.gate(text))
            # Text-only and id-only rows keep their one part whole.
            g = torch.where(has_text * use_id > 0, g, use_id.expand_as(g))
            fused: Tensor = g * i + (1 - g) * t
            return fused
        if self.mix is not None:
            mixed: Tensor = self.mix(torch.cat([i, t], dim=-1))
            return mixed
        summed: Tensor = i + t
        return summed

    def forward(self, rows: Tensor) -> Tensor:
        """Fused vectors of ``rows`` (any shape) -> ``(*rows.shape, E)``; PAD stays zero."""
        out = self.fuse(self.ids(rows), self.text[rows], self.use_id[rows], self.has_text[rows])
        return out * (rows != PAD).unsqueeze(-1).to(out.dtype)

    @property
    def weight(self) -> Tensor:
        """The whole fused table ``(N, E)`` (what scoring multiplies with)."""
        rows = torch.arange(self.text.shape[0], device=self.text.device)
        return self.forward(rows)

    def text_only_weight(self) -> Tensor:
        """Every row as if its item had no interactions ``(N, E)``: the text part alone."""
        no_id = torch.zeros_like(self.use_id)
        out = self.fuse(torch.zeros_like(self.ids.weight), self.text, no_id, self.has_text)
        return out * self.has_text


class TextFusedRecommender(RecurrentRecommender):
    """The recurrent model with text-fused item vectors (tied: same table in and out)."""

    def __init__(
        self,
        config: RecurrentConfig,
        text: Tensor,
        use_id: Tensor,
        fusion: Fusion = "sum",
        id_dropout: float = 0.0,
    ) -> None:
        super().__init__(config)
        if not config.tied:
            raise ValueError("text fusion needs tied item embeddings")
        if text.shape[0] != config.num_items:
            raise ValueError(f"text rows {text.shape[0]} != model rows {config.num_items}")
        base = self.item_embedding
        self.item_embedding = FusedItemEmbedding(base, text, use_id, fusion, id_dropout)  # type: ignore[assignment]

    @property
    def fused(self) -> FusedItemEmbedding:
        """The fused item table module."""
        emb = self.item_embedding
        assert isinstance(emb, FusedItemEmbedding)
        return emb


def text_side(model: TextFusedRecommender) -> TextSide:
    """The projection of a trained fused model, for serving."""
    f = model.fused
    mix = None if f.mix is None else f.mix.weight.detach().cpu().numpy().astype(np.float32)
    return TextSide(
        f.fusion,
        f.proj.weight.detach().cpu().numpy().astype(np.float32),
        f.proj.bias.detach().cpu().numpy().astype(np.float32),
        mix,
    )


@torch.no_grad()
def materialize(model: TextFusedRecommender) -> RecurrentRecommender:
    """A plain model whose item table is the fused one: what export and serving run."""
    plain = RecurrentRecommender(model.config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("item_embedding.")}
    state["item_embedding.weight"] = model.fused.weight.detach().clone()
    plain.load_state_dict(state)
    return plain.eval()
