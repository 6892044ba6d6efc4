"""Reduced-precision variants are admitted only when they rank like fp32, for real."""

from __future__ import annotations

import numpy as np
import torch

from streamrec.export import parity, spec
from streamrec.export.onnx_export import export_step
from streamrec.export.variants import MIN_OVERLAP, build_variants
from streamrec.models.nets.checkpoint import Checkpoint
from tests.support.export import small_checkpoint


def _inputs(ckpt: Checkpoint, n: int = 400) -> parity.StepInputs:
    c = ckpt.config
    rng = np.random.default_rng(3)
    return parity.random_inputs(rng, n, ckpt.vocab.size, c.num_actions, c.state_size, 4)


def test_int8_is_admitted_when_it_ranks_like_fp32() -> None:
    ckpt = small_checkpoint(seed=1)
    model = ckpt.build_model()
    step = export_step(model, ckpt.vocab.size, k=10)
    files, reports = build_variants(step, ("int8", "fp16"), _inputs(ckpt))
    int8 = reports["int8"]
    assert int8["admitted"], int8
    assert int8["overlap"] >= MIN_OVERLAP
    assert set(files) == {spec.STEP_INT8_FILE}
    assert int8["size_mb"] < len(step) / 1e6  # int8 weights (GRU weights stay fp32)
    if "skipped" in reports["fp16"]["reason"]:  # CPU-only machine: fp16 is not guessed
        assert not reports["fp16"]["admitted"]


def test_int8_is_rejected_when_quantization_destroys_the_ranking() -> None:
    """One huge weight sets the per-tensor int8 scale, so every other item vector rounds to 0."""
    ckpt = small_checkpoint(seed=2)
    model = ckpt.build_model()
    with torch.no_grad():
        model.item_bias.normal_(0, 0.01)  # fp32 ranks by the dot products, not the bias
        model.item_embedding.weight[ckpt.vocab.capacity - 1, 0] = 1e4  # an unassigned row
    step = export_step(model, ckpt.vocab.size, k=10)
    files, reports = build_variants(step, ("int8",), _inputs(ckpt))
    assert not reports["int8"]["admitted"], reports["int8"]
    assert reports["int8"]["overlap"] < MIN_OVERLAP
    assert files == {}
