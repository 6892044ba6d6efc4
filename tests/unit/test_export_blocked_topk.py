"""The blocked top-K returns exactly torch.topk's rows, in torch and in the exported step graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from streamrec.export import parity
from streamrec.export.blocked_topk import ROWS_PER_BLOCK, blocked, topk_rows
from streamrec.export.onnx_export import export_checkpoint
from streamrec.export.runtime import StepSession
from streamrec.export.step_graph import reference_step
from streamrec.models.data.vocab import CAPACITY_STEP, Vocabulary
from streamrec.models.nets.gru import score_mask
from tests.support.models import tiny_checkpoint

K = 10


def test_blocks_only_where_the_catalog_divides_and_is_large() -> None:
    assert blocked(ROWS_PER_BLOCK * 4 * K, K)
    assert not blocked(ROWS_PER_BLOCK * 4 * K + 1, K)  # does not divide: one plain TopK
    assert not blocked(ROWS_PER_BLOCK * (4 * K - 1), K)  # too few blocks to be worth it


def test_built_vocabularies_have_a_capacity_the_blocks_divide() -> None:
    for n in (1, 63, 1_000, 18_277):
        capacity = Vocabulary.build([f"i{i}" for i in range(n)]).capacity
        assert capacity % CAPACITY_STEP == 0 and capacity % ROWS_PER_BLOCK == 0
        assert capacity >= n + 2 + 16


@pytest.mark.parametrize("batch", [1, 5, 64])
def test_same_rows_and_scores_as_a_plain_topk(batch: int) -> None:
    gen = torch.Generator().manual_seed(batch)
    rows = ROWS_PER_BLOCK * 200
    scores = torch.randn(batch, rows, generator=gen)
    scores[:, :2] = float("-inf")  # reserved rows
    scores[:, -300:] = float("-inf")  # unassigned rows
    scores[0, 4000:4010] = 50.0 + torch.arange(10.0)  # one row's winners side by side
    got_scores, got_rows = topk_rows(scores, K)
    want_scores, want_rows = torch.topk(scores, K, dim=1)
    assert torch.equal(got_rows, want_rows)
    assert torch.equal(got_scores, want_scores)


def test_fewer_finite_scores_than_k_still_give_valid_rows() -> None:
    rows = ROWS_PER_BLOCK * 100
    scores = torch.full((3, rows), float("-inf"))
    scores[:, [7, 1234, 3000]] = torch.tensor([1.0, 3.0, 2.0])
    got_scores, got_rows = topk_rows(scores, K)
    assert got_rows[:, :3].tolist() == [[1234, 3000, 7]] * 3
    assert torch.isinf(got_scores[:, 3:]).all()
    assert ((got_rows >= 0) & (got_rows < rows)).all()


def test_the_exported_step_selects_in_blocks_and_matches_torch(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(n_items=2_000, spread=True)
    rows = ckpt.config.num_items
    assert blocked(rows, K)
    out = tmp_path / "bundle"
    export_checkpoint(ckpt, out, k=K, index=False)  # verified against torch at export
    graph = onnx.load(str(out / "step.onnx"))
    assert "ReduceMax" in {n.op_type for n in graph.graph.node}
    session = StepSession.open(out, provider="cpu", warmup=False)
    c = ckpt.config
    inputs = parity.random_inputs(
        np.random.default_rng(3), 48, c.num_items, c.num_actions, c.state_size, 4
    )
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
