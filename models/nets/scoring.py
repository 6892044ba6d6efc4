"""The sequence-model interface shared by the GRU and SASRec, and its evaluation adapter."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from streamrec.models.nets.gru import score_mask


class SequenceModel(Protocol):
    """What training and evaluation need from a next-item model."""

    def hidden(self, items: Tensor, actions: Tensor) -> Tensor:
        """Right-padded ``(B, T)`` inputs -> outputs ``(B, T, H)`` (position t sees <= t)."""
        ...

    def item_logits(self, outputs: Tensor) -> Tensor:
        """``(..., H)`` -> scores over every embedding row ``(..., num_items)``."""
        ...

    def score_rows(self, outputs: Tensor, rows: Tensor) -> Tensor:
        """Scores of chosen rows: ``(M, H)``, ``(M, C)`` -> ``(M, C)``."""
        ...

    def buy_logit(self, outputs: Tensor) -> Tensor:
        """``(..., H)`` -> logit that the next action is a buy ``(...)``."""
        ...

    def train(self, mode: bool = True) -> SequenceModel:
        """Switch dropout on or off (``torch.nn.Module.train``)."""
        ...


class ModelScorer:
    """Adapts a :class:`SequenceModel` to :class:`~streamrec.models.training.histories.Scorer`."""

    def __init__(
        self,
        model: SequenceModel,
        num_items: int,
        vocab_size: int,
        max_len: int,
        device: torch.device | None = None,
    ) -> None:
        self.model = model
        self.max_len = max_len
        self.device = device or torch.device("cpu")
        self.mask = score_mask(num_items, vocab_size).to(self.device)

    @torch.no_grad()
    def score(
        self, items: np.ndarray, actions: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(B, num_items)`` (masked rows -inf) and buy probabilities ``(B,)``."""
        self.model.train(False)
        x = torch.from_numpy(items).to(self.device)
        a = torch.from_numpy(actions).to(self.device)
        out = self.model.hidden(x, a)  # (B, T, H)
        last = torch.from_numpy(np.maximum(lengths, 1) - 1).to(self.device)
        h = out[torch.arange(len(items), device=self.device), last]  # (B, H)
        scores = self.model.item_logits(h) + self.mask
        buy = torch.sigmoid(self.model.buy_logit(h))
        return scores.float().cpu().numpy(), buy.float().cpu().numpy()
