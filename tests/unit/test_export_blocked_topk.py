"""The blocked top-K returns exactly a plain TopK's rows, alone and in the exported step graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from streamrec.export import parity
from streamrec.export.blocked_topk import ROWS_PER_BLOCK, block_topk, blocked, is_blocked
from streamrec.export.onnx_export import export_checkpoint
from streamrec.export.runtime import StepSession
from streamrec.export.step_graph import reference_step
from streamrec.models.data.vocab import CAPACITY_STEP, Vocabulary
from streamrec.models.inference import create_session
from streamrec.models.nets.gru import score_mask
from tests.support.models import tiny_checkpoint

K = 10


def _topk_graph(rows: int) -> onnx.ModelProto:
    """scores (B, rows) -> TopK K: what the exported step ends with."""
    k = helper.make_tensor("k", TensorProto.INT64, [1], [K])
    node = helper.make_node("TopK", ["scores", "k"], ["top_scores", "top_items"], axis=1)
    graph = helper.make_graph(
        [node],
        "topk",
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "rows"])],
        [
            helper.make_tensor_value_info("top_scores", TensorProto.FLOAT, ["batch", K]),
            helper.make_tensor_value_info("top_items", TensorProto.INT64, ["batch", K]),
        ],
        [k],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(proto: onnx.ModelProto, scores: np.ndarray) -> list[np.ndarray]:
    session = create_session(proto.SerializeToString(), provider="cpu", threads=1)
    out: list[np.ndarray] = session.run(["top_scores", "top_items"], {"scores": scores})
    return out


def test_blocks_only_where_the_catalog_divides_and_is_large() -> None:
    assert blocked(ROWS_PER_BLOCK * 4 * K, K)
    assert not blocked(ROWS_PER_BLOCK * 4 * K + 1, K)  # does not divide: one plain TopK
    assert not blocked(ROWS_PER_BLOCK * (4 * K - 1), K)  # too few blocks to be worth it
    small = _topk_graph(ROWS_PER_BLOCK * 10)
    assert not block_topk(small, ROWS_PER_BLOCK * 10, K, "top_scores", "top_items")
    assert not is_blocked(small)


def test_built_vocabularies_have_a_capacity_the_blocks_divide() -> None:
    for n in (1_000, 1_300, 18_277):
        capacity = Vocabulary.build([f"i{i}" for i in range(n)]).capacity
        assert capacity % CAPACITY_STEP == 0 and capacity % ROWS_PER_BLOCK == 0
        assert capacity >= n + 2 + n // 4
    # Too small for blocks: the capacity as it always was (items, reserved rows, headroom).
    assert Vocabulary.build([f"i{i}" for i in range(60)]).capacity == 60 + 2 + 16


@pytest.mark.parametrize("rows", [ROWS_PER_BLOCK * 200, ROWS_PER_BLOCK * 57])
def test_same_rows_and_scores_as_a_plain_topk_at_any_width(rows: int) -> None:
    exported = ROWS_PER_BLOCK * 200
    plain = _topk_graph(exported)
    rewritten = _topk_graph(exported)
    assert block_topk(rewritten, exported, K, "top_scores", "top_items")
    assert is_blocked(rewritten)
    assert "ReduceMax" in {n.op_type for n in rewritten.graph.node}
    rng = np.random.default_rng(rows)
    scores = rng.standard_normal((37, rows)).astype(np.float32)
    scores[:, :2] = -np.inf  # reserved rows
    scores[:, -100:] = -np.inf  # unassigned rows
    scores[0, 1000:1010] = 50.0 + np.arange(10)  # one row's winners side by side
    want = _run(plain, scores)
    got = _run(rewritten, scores)  # a narrower catalog than exported (a cut table) too
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_fewer_finite_scores_than_k_still_give_valid_rows() -> None:
    rows = ROWS_PER_BLOCK * 100
    proto = _topk_graph(rows)
    assert block_topk(proto, rows, K, "top_scores", "top_items")
    scores = np.full((3, rows), -np.inf, np.float32)
    scores[:, [7, 1234, 3000]] = [1.0, 3.0, 2.0]
    top_scores, top_rows = _run(proto, scores)
    assert top_rows[:, :3].tolist() == [[1234, 3000, 7]] * 3
    assert np.isinf(top_scores[:, 3:]).all()
    assert ((top_rows >= 0) & (top_rows < rows)).all()


def test_the_exported_step_selects_in_blocks_and_matches_torch(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(n_items=2_000, spread=True)
    rows = ckpt.config.num_items
    assert blocked(rows, K)
    out = tmp_path / "bundle"
    export_checkpoint(ckpt, out, k=K, index=False)  # verified against torch at export
    assert is_blocked(onnx.load(str(out / "step.onnx")))
    session = StepSession.open(out, provider="cpu", warmup=False)
    c = ckpt.config
    inputs = parity.random_inputs(
        np.random.default_rng(3), 48, c.num_items, c.num_actions, c.state_size, 4
    )
    inputs.items[:] = np.minimum(inputs.items, ckpt.vocab.size - 1)  # rows holding items
    model = ckpt.build_model()
    mask = score_mask(rows, ckpt.vocab.size)
    t = [torch.from_numpy(a) for a in (inputs.items, inputs.actions, inputs.states, inputs.exclude)]
    ref = reference_step(model, mask, *t, K)
    got = session.run(inputs.items, inputs.actions, inputs.states, inputs.exclude)
    report = parity.ParityReport()
    parity.accumulate(
        report,
        tuple(x.numpy() for x in ref[:4]),
        (got.states, got.top_items, got.top_scores, got.buy_prob),
        ref[4].numpy(),
    )
    assert report.within_tolerance(), report
    assert report.agreement == 1.0, report
