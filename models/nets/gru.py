"""The recurrent sequence model: a GRU (or LSTM) over (item, action) inputs.

One code path serves both uses: :meth:`RecurrentRecommender.forward` runs padded sequences
for training; :meth:`RecurrentRecommender.step` applies a single event to a state, which is
what the ONNX export and the stream worker run. The state is one tensor ``(batch,
state_size)``: ``h`` for a GRU, ``[h, c]`` concatenated for an LSTM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from streamrec.models.data.actions import NUM_ACTIONS, Action
from streamrec.models.data.vocab import PAD, RESERVED

Cell = Literal["gru", "lstm"]


@dataclass(frozen=True)
class RecurrentConfig:
    """Everything needed to rebuild the model; stored in checkpoints as plain data."""

    num_items: int  # embedding rows = vocabulary capacity (reserved rows included)
    embed_dim: int = 64
    hidden_dim: int = 128
    dropout: float = 0.3
    cell: Cell = "gru"
    tied: bool = True  # score with the input item embeddings (projected hidden state)
    num_actions: int = NUM_ACTIONS
    # Input skip: the current event's embedding also feeds the scoring query through a
    # linear map (a first-order item-to-item term beside the recurrent context). The state
    # stays the plain RNN state; only scoring changes. Off by default (export parity).
    skip: bool = False
    init_std: float = 0.02  # std of the normal init of item/action embeddings

    @property
    def state_size(self) -> int:
        """Width of the flat per-user state."""
        return self.hidden_dim * (2 if self.cell == "lstm" else 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for checkpoints and manifests."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecurrentConfig:
        """Inverse of :meth:`to_dict`, ignoring unknown keys from newer versions."""
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})


class RecurrentRecommender(nn.Module):
    """GRU/LSTM next-item model with a buy-propensity head."""

    def __init__(self, config: RecurrentConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.item_embedding = nn.Embedding(c.num_items, c.embed_dim, padding_idx=PAD)
        self.action_embedding = nn.Embedding(
            c.num_actions, c.embed_dim, padding_idx=int(Action.PAD)
        )
        self.input_dropout = nn.Dropout(c.dropout)
        rnn_cls = nn.GRU if c.cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(c.embed_dim, c.hidden_dim, batch_first=True)
        self.output_dropout = nn.Dropout(c.dropout)
        self.project = nn.Linear(c.hidden_dim, c.embed_dim)
        self.skip = nn.Linear(c.embed_dim, c.embed_dim, bias=False) if c.skip else None
        self.output_embedding = None if c.tied else nn.Embedding(c.num_items, c.embed_dim)
        self.item_bias = nn.Parameter(torch.zeros(c.num_items))
        self.buy_head = nn.Linear(c.hidden_dim, 1)
        # Rows that must never be recommended: padding, unknown. Unassigned capacity rows are
        # masked by the caller (it knows the vocabulary size), see ``score_mask``.
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Small normal init for embeddings (as in SASRec/GRU4Rec re-implementations)."""
        std = self.config.init_std
        nn.init.normal_(self.item_embedding.weight, std=std)
        nn.init.normal_(self.action_embedding.weight, std=std)
        with torch.no_grad():
            self.item_embedding.weight[PAD].zero_()
            self.action_embedding.weight[int(Action.PAD)].zero_()
        if self.output_embedding is not None:
            nn.init.normal_(self.output_embedding.weight, std=std)
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)  # starts as the plain recurrent model

    def initial_state(self, batch: int, device: torch.device | None = None) -> Tensor:
        """Zero state for ``batch`` new users, ``(batch, state_size)``."""
        return torch.zeros(batch, self.config.state_size, device=device)

    def _split(self, state: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        h = self.config.hidden_dim
        if self.config.cell == "lstm":
            return state[:, :h].unsqueeze(0).contiguous(), state[:, h:].unsqueeze(0).contiguous()
        return state.unsqueeze(0)

    def _join(self, rnn_state: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        if isinstance(rnn_state, tuple):
            return torch.cat([rnn_state[0][0], rnn_state[1][0]], dim=-1)
        return rnn_state[0]

    def encode(
        self, items: Tensor, actions: Tensor, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Run ``(batch, time)`` inputs; return outputs ``(batch, time, hidden)``, final state."""
        return self._run(self._inputs(items, actions), state)

    def _inputs(self, items: Tensor, actions: Tensor) -> Tensor:
        x: Tensor = self.input_dropout(self.item_embedding(items) + self.action_embedding(actions))
        return x

    def _run(self, x: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        if state is None:
            state = self.initial_state(x.shape[0], x.device)
        out, rnn_state = self.rnn(x, self._split(state))
        return out, self._join(rnn_state)

    def hidden(self, items: Tensor, actions: Tensor) -> Tensor:
        """Scoring features ``(batch, time, F)`` from a zero state (right padding is harmless).

        ``F`` is ``hidden_dim``, plus ``embed_dim`` (the event's input) with ``skip``.
        """
        x = self._inputs(items, actions)
        out, _ = self._run(x, None)
        return torch.cat([out, x], dim=-1) if self.skip is not None else out

    def query(self, features: Tensor) -> Tensor:
        """The vector that scores items, ``(..., F)`` -> ``(..., embed_dim)``."""
        h = features[..., : self.config.hidden_dim]
        q: Tensor = self.project(self.output_dropout(h))
        if self.skip is not None:
            q = q + self.skip(features[..., self.config.hidden_dim :])
        return q

    def output_weights(self) -> Tensor:
        """Item vectors used for scoring, ``(num_items, embed_dim)``."""
        emb = self.output_embedding if self.output_embedding is not None else self.item_embedding
        return emb.weight

    def item_logits(self, outputs: Tensor) -> Tensor:
        """Scores over every row for hidden outputs ``(..., hidden)`` -> ``(..., num_items)``."""
        logits: Tensor = self.query(outputs) @ self.output_weights().T + self.item_bias
        return logits

    def score_rows(self, outputs: Tensor, rows: Tensor) -> Tensor:
        """Scores of some rows only (sampled softmax): shared ``(C,)`` or per-output ``(M, C)``."""
        return _score_rows(self.query(outputs), self.output_weights(), self.item_bias, rows)

    def buy_logit(self, outputs: Tensor) -> Tensor:
        """Logit that the next action is a buy, ``(...)``."""
        h = outputs[..., : self.config.hidden_dim]
        logit: Tensor = self.buy_head(self.output_dropout(h)).squeeze(-1)
        return logit

    def forward(
        self, items: Tensor, actions: Tensor, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Training path: ``(logits (B,T,N), buy_logit (B,T), final state (B,S))``."""
        x = self._inputs(items, actions)
        out, new_state = self._run(x, state)
        features = torch.cat([out, x], dim=-1) if self.skip is not None else out
        return self.item_logits(features), self.buy_logit(features), new_state

    def step_features(self, item: Tensor, action: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One event per user: scoring features ``(B, F)`` (see :meth:`hidden`), new state."""
        x = self._inputs(item.unsqueeze(1), action.unsqueeze(1))
        out, new_state = self._run(x, state)
        features = torch.cat([out, x], dim=-1) if self.skip is not None else out
        return features[:, 0], new_state

    def step(self, item: Tensor, action: Tensor, state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Serving path, one event per user: ``(scores (B,N), buy_prob (B,), state (B,S))``."""
        logits, buy_logit, new_state = self.forward(item.unsqueeze(1), action.unsqueeze(1), state)
        return logits[:, 0], torch.sigmoid(buy_logit[:, 0]), new_state


def _score_rows(q: Tensor, weights: Tensor, bias: Tensor, rows: Tensor) -> Tensor:
    """``q (M, E)`` against ``weights[rows]``: shared ``(C,)`` rows or per-output ``(M, C)``."""
    if rows.dim() == 1:
        shared: Tensor = q @ weights[rows].T + bias[rows]
        return shared
    per_row: Tensor = torch.einsum("me,mce->mc", q, weights[rows]) + bias[rows]
    return per_row


def score_mask(num_items: int, vocab_size: int) -> Tensor:
    """Additive mask ``(num_items,)``: 0 for recommendable rows, -inf for reserved/unassigned."""
    mask = torch.zeros(num_items)
    mask[:RESERVED] = float("-inf")
    mask[vocab_size:] = float("-inf")
    return mask
