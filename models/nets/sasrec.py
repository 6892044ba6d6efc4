"""SASRec-style causal self-attention model, the strongest baseline in the same harness.

Kang & McAuley, "Self-Attentive Sequential Recommendation" (ICDM 2018), trained here with the
same full-softmax cross-entropy as the GRU (which is known to beat the paper's sampled BCE).
Pre-norm transformer blocks over item + action + learned position embeddings; position ``t``
attends to positions ``<= t`` only, so right padding never leaks into real positions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from streamrec.models.data.actions import NUM_ACTIONS, Action
from streamrec.models.data.vocab import PAD
from streamrec.models.nets.gru import _score_rows


@dataclass(frozen=True)
class SASRecConfig:
    """Everything needed to rebuild the model; stored in checkpoints as plain data."""

    num_items: int
    embed_dim: int = 64
    num_blocks: int = 2
    num_heads: int = 2
    dropout: float = 0.3
    max_len: int = 50
    tied: bool = True
    num_actions: int = NUM_ACTIONS

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SASRecConfig:
        """Inverse of :meth:`to_dict`, ignoring unknown keys."""
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})


class SASRecRecommender(nn.Module):
    """Causal transformer next-item model with a buy-propensity head."""

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.config = c = config
        self.item_embedding = nn.Embedding(c.num_items, c.embed_dim, padding_idx=PAD)
        self.action_embedding = nn.Embedding(
            c.num_actions, c.embed_dim, padding_idx=int(Action.PAD)
        )
        self.position_embedding = nn.Embedding(c.max_len, c.embed_dim)
        self.dropout = nn.Dropout(c.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=c.embed_dim,
            nhead=c.num_heads,
            dim_feedforward=c.embed_dim,
            dropout=c.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, c.num_blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.embed_dim)
        self.output_embedding = None if c.tied else nn.Embedding(c.num_items, c.embed_dim)
        self.item_bias = nn.Parameter(torch.zeros(c.num_items))
        self.buy_head = nn.Linear(c.embed_dim, 1)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        nn.init.normal_(self.action_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        with torch.no_grad():
            self.item_embedding.weight[PAD].zero_()
            self.action_embedding.weight[int(Action.PAD)].zero_()
        if self.output_embedding is not None:
            nn.init.normal_(self.output_embedding.weight, std=0.02)

    def hidden(self, items: Tensor, actions: Tensor) -> Tensor:
        """Right-padded ``(B, T)`` inputs (T <= max_len) -> outputs ``(B, T, D)``."""
        t = items.shape[1]
        if t > self.config.max_len:
            raise ValueError(f"sequence length {t} exceeds max_len {self.config.max_len}")
        pos = torch.arange(t, device=items.device)
        x = self.item_embedding(items) * self.config.embed_dim**0.5
        x = x + self.action_embedding(actions) + self.position_embedding(pos)[None]
        x = self.dropout(x)
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=items.device), 1)
        out: Tensor = self.norm(self.blocks(x, mask=causal))
        return out

    def output_weights(self) -> Tensor:
        """Item vectors used for scoring, ``(num_items, embed_dim)``."""
        emb = self.output_embedding if self.output_embedding is not None else self.item_embedding
        return emb.weight

    def item_logits(self, outputs: Tensor) -> Tensor:
        """``(..., D)`` -> ``(..., num_items)``."""
        logits: Tensor = outputs @ self.output_weights().T + self.item_bias
        return logits

    def score_rows(self, outputs: Tensor, rows: Tensor) -> Tensor:
        """Scores of some rows only: shared rows ``(C,)`` or per-output rows ``(M, C)``."""
        return _score_rows(outputs, self.output_weights(), self.item_bias, rows)

    def buy_logit(self, outputs: Tensor) -> Tensor:
        """``(..., D)`` -> logit that the next action is a buy ``(...)``."""
        logit: Tensor = self.buy_head(outputs).squeeze(-1)
        return logit

    def forward(self, items: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits (B,T,N), buy_logit (B,T))``."""
        out = self.hidden(items, actions)
        return self.item_logits(out), self.buy_logit(out)
