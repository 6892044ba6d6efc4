"""The torch modules that are exported, and the plain torch reference they are checked against.

:class:`StepGraph` wraps a trained model's per-event step with what serving needs in-graph:
the score mask (PAD/UNK/unassigned rows), the per-user exclusions and the top-K. The item bias
and the mask are folded into one constant so the scoring is one GEMM against the (tied) item
embedding table, stored once in the graph. :func:`reference_step` is the same computation
written directly on ``model.step``; the verifier holds the ONNX graph to it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from streamrec.models.nets.gru import RecurrentRecommender, score_mask


class StepGraph(nn.Module):
    """One event per user -> (state_out, top_items, top_scores, buy_prob); see export.spec."""

    score_bias: Tensor

    def __init__(self, model: RecurrentRecommender, vocab_size: int, k: int) -> None:
        super().__init__()
        self.model = model.eval()
        self.k = k
        with torch.no_grad():
            bias = model.item_bias.detach() + score_mask(model.config.num_items, vocab_size)
        self.register_buffer("score_bias", bias)  # (N,), -inf on masked rows

    def forward(
        self, items: Tensor, actions: Tensor, state: Tensor, exclude: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``items``/``actions`` (B,), ``state`` (B,S), ``exclude`` (B,E) rows (0 = none)."""
        # (B, F): the GRU output, plus the event's input embedding for ``skip`` models.
        features, new_state = self.model.step_features(items, actions, state)
        query = self.model.query(features)  # (B, D)
        # (B, N); Gemm with transB on the embedding rows, so tied weights are stored once.
        scores = nn.functional.linear(query, self.model.output_weights(), self.score_bias)
        scores = scores.scatter(1, exclude, float("-inf"))
        top_scores, top_items = torch.topk(scores, self.k, dim=1)
        buy_prob = torch.sigmoid(self.model.buy_logit(features))
        return new_state, top_items, top_scores, buy_prob


@torch.inference_mode()
def reference_step(
    model: RecurrentRecommender,
    mask: Tensor,
    items: Tensor,
    actions: Tensor,
    state: Tensor,
    exclude: Tensor,
    k: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Torch eager step: ``(state, top_items, top_scores, buy_prob, masked scores (B,N))``."""
    scores, buy_prob, new_state = model.step(items, actions, state)
    scores = (scores + mask).scatter(1, exclude, float("-inf"))
    top_scores, top_items = torch.topk(scores, k, dim=1)
    return new_state, top_items, top_scores, buy_prob, scores
