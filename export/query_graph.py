"""The query graph: the step without its scoring, for catalogs an index serves.

``(items, actions, state) -> (state_out, query, buy_prob)`` (streamrec.export.spec). Exported
with torch's dynamo exporter and checked against the model on random inputs; the scoring it
leaves out is ``query @ table.T + bias`` over the bundle's item table
(streamrec.export.item_table), done by the index's candidates only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from streamrec.export import spec
from streamrec.export.dynamo import dynamo_proto
from streamrec.export.errors import VerificationError
from streamrec.export.item_table import ItemTable
from streamrec.models.inference import create_session
from streamrec.models.nets.gru import RecurrentRecommender, score_mask
from streamrec.models.nets.neighbours import Blend, as_tensors

QUERY_ATOL = 1e-4
VERIFY_BATCHES = (1, 7, 257)


class QueryGraph(nn.Module):
    """One event per user -> (state_out, query, buy_prob)."""

    def __init__(self, model: RecurrentRecommender) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(
        self, items: Tensor, actions: Tensor, state: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``items``/``actions`` (B,), ``state`` (B,S)."""
        features, new_state = self.model.step_features(items, actions, state)
        buy_prob = torch.sigmoid(self.model.buy_logit(features))
        return new_state, self.model.query(features), buy_prob


def export_query(model: RecurrentRecommender) -> bytes:
    """Serialized ONNX query graph of ``model``, with a dynamic batch axis."""
    graph = QueryGraph(model).eval()
    args = (
        torch.full((2,), 2, dtype=torch.int64),
        torch.ones(2, dtype=torch.int64),
        torch.zeros(2, model.config.state_size),
    )
    batch = torch.export.Dim(spec.BATCH_AXIS)
    shapes = {n: {0: batch} for n in spec.QUERY_INPUTS}
    proto = dynamo_proto(graph, args, spec.QUERY_INPUTS, spec.QUERY_OUTPUTS, shapes)
    onnx.checker.check_model(proto)
    return bytes(proto.SerializeToString())


@torch.inference_mode()
def verify_query(query_onnx: bytes, model: RecurrentRecommender, seed: int = 0) -> dict[str, float]:
    """Max |ORT - torch| of state, query and buy probability on random inputs; raises if over."""
    session = create_session(query_onnx, provider="cpu")
    graph = QueryGraph(model).eval()
    c = model.config
    rng = np.random.default_rng(seed)
    worst = {"state": 0.0, "query": 0.0, "buy": 0.0}
    for batch in VERIFY_BATCHES:
        items = rng.integers(1, c.num_items, batch).astype(np.int64)
        actions = rng.integers(1, c.num_actions, batch).astype(np.int64)
        state = rng.uniform(-1, 1, (batch, c.state_size)).astype(np.float32)
        got = session.run(None, {"items": items, "actions": actions, "state": state})
        want = graph(torch.from_numpy(items), torch.from_numpy(actions), torch.from_numpy(state))
        for name, a, b in zip(worst, got, want, strict=True):
            worst[name] = max(worst[name], float(np.abs(a - b.numpy()).max()))
    if not all(v <= QUERY_ATOL for v in worst.values()):  # "not <=" so NaN fails too
        raise VerificationError(f"query graph differs from torch: {worst} (atol {QUERY_ATOL})")
    return {f"max_{k}_diff": v for k, v in worst.items()} | {"atol": QUERY_ATOL}


@torch.inference_mode()
def item_table(model: RecurrentRecommender, vocab_size: int, blend: Blend | None) -> ItemTable:
    """The scoring arrays the query graph leaves out: table, masked bias, transitions."""
    c = model.config
    bias = (model.item_bias.detach() + score_mask(c.num_items, vocab_size)).numpy()
    table = model.output_weights().detach().numpy()
    if blend is None:
        return ItemTable(np.ascontiguousarray(table, np.float32), bias.astype(np.float32))
    used = np.flatnonzero((blend.table.weights > 0).any(axis=1))
    rows = int(used[-1]) + 1 if len(used) else 1
    t = blend.table
    ids, weights, decays = as_tensors(
        replace(t, ids=t.ids[:rows], weights=t.weights[:rows]), blend.alpha
    )
    return ItemTable(
        np.ascontiguousarray(table, np.float32),
        bias.astype(np.float32),
        neighbour_ids=ids.numpy().astype(np.int32),
        neighbour_weights=weights.numpy().astype(np.float32),
        decays=decays.numpy().astype(np.float32),
    )
