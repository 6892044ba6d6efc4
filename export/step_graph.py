"""The torch modules that are exported, and the plain torch reference they are checked against.

:class:`StepGraph` wraps a trained model's per-event step with what serving needs in-graph:
the score mask (PAD/UNK/unassigned rows), the per-user exclusions and the top-K. The item bias
and the mask are folded into one constant so the scoring is one GEMM against the (tied) item
embedding table, stored once in the graph. With a :class:`~streamrec.models.nets.neighbours.Blend`
the graph also carries the item-to-item transition table as constants and takes a fifth input,
``previous`` (the user's items before this event, latest first): their followers' weights are
added to the scores before exclusion and top-K (a gather and a scatter-add, O(recent x width)
per event). :func:`reference_step` is the same computation written directly on
``model.step``; the verifier holds the ONNX graph to it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from streamrec.models.nets.gru import RecurrentRecommender, score_mask
from streamrec.models.nets.neighbours import Blend, add_neighbours, as_tensors


class StepGraph(nn.Module):
    """One event per user -> (state_out, top_items, top_scores, buy_prob); see export.spec."""

    score_bias: Tensor
    neighbour_ids: Tensor
    neighbour_weights: Tensor
    neighbour_decays: Tensor

    def __init__(
        self, model: RecurrentRecommender, vocab_size: int, k: int, blend: Blend | None = None
    ) -> None:
        super().__init__()
        self.model = model.eval()
        self.k = k
        self.blended = blend is not None
        with torch.no_grad():
            bias = model.item_bias.detach() + score_mask(model.config.num_items, vocab_size)
        self.register_buffer("score_bias", bias)  # (N,), -inf on masked rows
        if blend is not None:
            ids, weights, decays = blend_tensors(blend, model.config.num_items)
            self.register_buffer("neighbour_ids", ids.to(torch.int32))  # (N, W), half of int64
            self.register_buffer("neighbour_weights", weights)  # (N, W), alpha applied
            self.register_buffer("neighbour_decays", decays)  # (R,)

    def forward(
        self,
        items: Tensor,
        actions: Tensor,
        state: Tensor,
        exclude: Tensor,
        previous: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``items``/``actions`` (B,), ``state`` (B,S), ``exclude`` (B,E) rows (0 = none).

        ``previous`` (B,R-1) the user's earlier items, latest first (blended graphs only).
        """
        # (B, F): the GRU output, plus the event's input embedding for ``skip`` models.
        features, new_state = self.model.step_features(items, actions, state)
        query = self.model.query(features)  # (B, D)
        # (B, N); Gemm with transB on the embedding rows, so tied weights are stored once.
        scores = nn.functional.linear(query, self.model.output_weights(), self.score_bias)
        if self.blended and previous is not None:
            history = torch.cat([items.unsqueeze(1), previous], dim=1)  # (B, R), latest first
            nb = self.neighbour_ids[history].long()  # (B, R, W)
            w = self.neighbour_weights[history] * self.neighbour_decays[None, :, None]
            scores = scores.scatter_add(1, nb.flatten(1), w.flatten(1))
        scores = scores.scatter(1, exclude, float("-inf"))
        # Exported as one TopK; the exporter rewrites it (streamrec.export.blocked_topk).
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
    blend: Blend | None = None,
    previous: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Torch eager step: ``(state, top_items, top_scores, buy_prob, masked scores (B,N))``."""
    scores, buy_prob, new_state = model.step(items, actions, state)
    scores = scores + mask
    if blend is not None:
        if previous is None:
            raise ValueError("a blended step needs the previous items")
        history = torch.cat([items.unsqueeze(1), previous], dim=1)
        scores = add_neighbours(scores, history, *blend_tensors(blend, model.config.num_items))
    scores = scores.scatter(1, exclude, float("-inf"))
    top_scores, top_items = torch.topk(scores, k, dim=1)
    return new_state, top_items, top_scores, buy_prob, scores


def blend_tensors(blend: Blend, rows: int) -> tuple[Tensor, Tensor, Tensor]:
    """The blend's constants over ``rows`` (the model's rows): ids, alpha-scaled weights, decays."""
    return as_tensors(blend.padded(rows).table, blend.alpha)
