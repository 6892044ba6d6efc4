"""The exported step matches torch at batch sizes other than the export's, random and real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from streamrec.export import parity
from streamrec.export.errors import VerificationError
from streamrec.export.onnx_export import EXPORT_BATCH, export_checkpoint, export_step, verify_step
from streamrec.export.parity import ParityReport
from streamrec.export.realdata import load_sequences, real_step_inputs
from streamrec.export.runtime import StepSession
from streamrec.export.step_graph import reference_step
from streamrec.models.data.vocab import RESERVED
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.gru import score_mask
from tests.support.export import load_or_skip, small_checkpoint


def _compare(session: StepSession, ckpt: Checkpoint, inputs: parity.StepInputs) -> ParityReport:
    model = ckpt.build_model()
    mask = score_mask(ckpt.config.num_items, ckpt.vocab.size)
    t = [torch.from_numpy(a) for a in (inputs.items, inputs.actions, inputs.states, inputs.exclude)]
    ref = [x.numpy() for x in reference_step(model, mask, *t, session.k)]
    got = session.run(inputs.items, inputs.actions, inputs.states, inputs.exclude)
    report = ParityReport()
    parity.accumulate(
        report, tuple(ref[:4]), (got.states, got.top_items, got.top_scores, got.buy_prob), ref[4]
    )
    return report


@pytest.mark.parametrize(("batch", "width"), [(1, 1), (3, 4), (33, 1), (128, 9)])
def test_parity_at_batch_sizes(
    bundle_dir: Path, checkpoint: Checkpoint, batch: int, width: int
) -> None:
    assert batch != EXPORT_BATCH
    session = StepSession.open(bundle_dir, provider="cpu", warmup=False)
    c = checkpoint.config
    rng = np.random.default_rng(batch)
    # Rows that hold items: a served session scores only those (streamrec.export.scored_rows).
    rows = checkpoint.vocab.size
    inputs = parity.random_inputs(rng, batch, rows, c.num_actions, c.state_size, width)
    report = _compare(session, checkpoint, inputs)
    assert report.within_tolerance(), report
    assert report.agreement == 1.0, report


def test_masked_and_excluded_rows_are_never_recommended(
    bundle_dir: Path, checkpoint: Checkpoint
) -> None:
    session = StepSession.open(bundle_dir, provider="cpu", warmup=False)
    batch = 64
    states = np.random.default_rng(0).uniform(-1, 1, (batch, session.state_size))
    first = session.run(np.full(batch, 5), np.ones(batch), states)
    exclude = first.top_items[:, :3]  # the best three must make way
    second = session.run(np.full(batch, 5), np.ones(batch), states, exclude)
    for row in range(batch):
        assert not np.isin(second.top_items[row], exclude[row]).any()
    np.testing.assert_array_equal(second.top_items[:, : session.k - 3], first.top_items[:, 3:])
    vocab_size = checkpoint.vocab.size
    assert checkpoint.vocab.capacity > vocab_size  # unassigned rows exist and must stay out
    for result in (first, second):
        assert (result.top_items >= RESERVED).all() and (result.top_items < vocab_size).all()
        assert (np.diff(result.top_scores, axis=1) <= 0).all()


def test_lstm_exports_and_verifies() -> None:
    ckpt = small_checkpoint(cell="lstm", n_items=120)
    model = ckpt.build_model()
    step = export_step(model, ckpt.vocab.size, k=5)
    result = verify_step(step, model, ckpt.vocab.size, k=5)
    assert result["random"]["agreement"] == 1.0


def test_input_skip_model_exports_and_verifies() -> None:
    ckpt = small_checkpoint(skip=True, n_items=120)
    model = ckpt.build_model()
    step = export_step(model, ckpt.vocab.size, k=5)
    result = verify_step(step, model, ckpt.vocab.size, k=5)
    assert result["random"]["agreement"] == 1.0


def test_real_inputs_agree(bundle_dir: Path, checkpoint: Checkpoint) -> None:
    path = load_or_skip()
    model = checkpoint.build_model()
    sequences = load_sequences(path, checkpoint.vocab)
    real = real_step_inputs(model, sequences, 500, seed=1)
    assert (real.items >= RESERVED).mean() > 0.02  # some items fall inside this small vocabulary
    session = StepSession.open(bundle_dir, provider="cpu", warmup=False)
    report = _compare(session, checkpoint, real)
    assert report.within_tolerance(), report
    assert report.agreement == 1.0, report


def test_a_graph_that_disagrees_is_refused_and_nothing_is_written(
    bundle_dir: Path, tmp_path: Path
) -> None:
    other = small_checkpoint(seed=7)  # same shapes, other weights: a real disagreement
    step = (bundle_dir / "step.onnx").read_bytes()
    with pytest.raises(VerificationError, match="disagrees"):
        verify_step(step, other.build_model(), other.vocab.size, k=10)
    broken = small_checkpoint(seed=8)
    broken.state_dict["buy_head.bias"][0] = float("nan")  # NaN must fail, not compare False
    with pytest.raises(VerificationError):
        export_checkpoint(broken, tmp_path / "b", k=10, encode=False)
    assert not (tmp_path / "b").exists() and list(tmp_path.iterdir()) == []


def test_verification_batches_bound_the_score_matrix_on_large_catalogs() -> None:
    from streamrec.export.onnx_export import VERIFY_BATCHES, VERIFY_SCORES, verify_batches

    assert verify_batches(100_000) == list(VERIFY_BATCHES)  # small catalogs: as declared
    for rows in (1_250_000, 20_000_000):
        batches = verify_batches(rows)
        sizes = [b for b, _ in batches]
        assert len(set(sizes)) == len(sizes) == len(VERIFY_BATCHES) and 2 not in sizes
        cap = max(3, VERIFY_SCORES // rows)  # a batch of 257 would hold 257 x rows scores
        assert max(sizes) <= cap + len(VERIFY_BATCHES) < 257
        assert [w for _, w in batches] == [w for _, w in VERIFY_BATCHES]
