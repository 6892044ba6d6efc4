"""A loaded step scores only the rows in use and answers exactly like the graph as exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamrec.export.blocked_topk import ROWS_PER_BLOCK, min_rows
from streamrec.export.onnx_export import export_checkpoint
from streamrec.export.runtime import StepRunner, StepSession
from streamrec.export.scored_rows import events_per_call, rows_to_score
from streamrec.models.data.vocab import UNK
from streamrec.models.inference import GraphRunner
from streamrec.models.nets.checkpoint import Checkpoint
from tests.support.models import tiny_checkpoint

K = 10


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Checkpoint, Path]:
    ckpt = tiny_checkpoint(n_items=2_000, spread=True)
    out = tmp_path_factory.mktemp("scored") / "bundle"
    export_checkpoint(ckpt, out, k=K, index=False)
    return ckpt, out


def test_rows_scored_are_the_assigned_ones_rounded_to_blocks() -> None:
    assert rows_to_score(2_002, 2_560, K, blocks=True) == 2_016
    assert rows_to_score(2_016, 2_560, K, blocks=True) == 2_016
    assert rows_to_score(5, 2_560, K, blocks=True) == min_rows(K)
    assert rows_to_score(2_550, 2_560, K, blocks=True) == 2_560
    assert rows_to_score(62, 128, K, blocks=False) == 62
    assert rows_to_score(3, 128, K, blocks=False) == K


def _runners(bundle: Path, ckpt: Checkpoint) -> tuple[StepRunner, StepRunner]:
    session = StepSession.open(bundle, provider="cpu", warmup=False)
    graph = session.bundle.graph_bytes("step")
    size = session.state_size
    whole = StepRunner(graph, size, provider="cpu", threads=1)
    cut = StepRunner(graph, size, provider="cpu", threads=1, assigned=ckpt.vocab.size, k=K)
    return whole, cut


def _inputs(
    rng: np.random.Generator, batch: int, ckpt: Checkpoint, state_size: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random (items, actions, states, exclude) over the rows that hold items."""
    return (
        rng.integers(2, ckpt.vocab.size, batch),
        rng.integers(1, 3, batch),
        rng.uniform(-1, 1, (batch, state_size)).astype(np.float32),
        rng.integers(2, ckpt.vocab.size, (batch, width)),
    )


def test_the_cut_graph_scores_fewer_rows_and_answers_the_same(
    exported: tuple[Checkpoint, Path],
) -> None:
    ckpt, bundle = exported
    whole, cut = _runners(bundle, ckpt)
    capacity = ckpt.config.num_items
    assert cut.rows % ROWS_PER_BLOCK == 0
    assert ckpt.vocab.size <= cut.rows < capacity
    assert whole.rows == 0  # not asked to cut: as exported
    inputs = _inputs(np.random.default_rng(7), 64, ckpt, whole.state_size, 5)
    a = whole.run(*inputs)
    b = cut.run(*inputs)
    np.testing.assert_array_equal(a.top_items, b.top_items)
    np.testing.assert_allclose(a.top_scores, b.top_scores, rtol=1e-6)
    np.testing.assert_allclose(a.states, b.states, rtol=1e-6)
    assert (b.top_items < ckpt.vocab.size).all()


def test_rows_beyond_the_cut_are_unknown_items_not_errors(
    exported: tuple[Checkpoint, Path],
) -> None:
    ckpt, bundle = exported
    whole, cut = _runners(bundle, ckpt)
    beyond = ckpt.config.num_items - 1  # a row a worker with more new items may have written
    assert beyond >= cut.rows
    batch = 4
    states = np.zeros((batch, whole.state_size), np.float32)
    actions = np.ones(batch, np.int64)
    got = cut.run(
        np.full(batch, beyond), actions, states, np.array([[beyond, 5]] * batch, np.int64)
    )
    want = whole.run(np.full(batch, UNK), actions, states, np.array([[0, 5]] * batch, np.int64))
    np.testing.assert_array_equal(got.top_items, want.top_items)
    np.testing.assert_allclose(got.states, want.states, rtol=1e-6)


def test_calls_hold_a_cache_sized_score_matrix() -> None:
    assert events_per_call(84_800) == 17  # 133 us/event at 16 against 216 at 256, measured
    assert events_per_call(18_304) == 81
    assert events_per_call(1_000_000) == 16  # never fewer: each call reads the whole table
    assert events_per_call(2_016) == 256  # never more than a micro-batch
    assert events_per_call(0) == 0  # rows unknown (a quantised graph): whole batches


class _Counting:
    """The runner's GraphRunner, counting its calls."""

    def __init__(self, inner: GraphRunner) -> None:
        self.inner = inner
        self.calls = 0

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.calls += 1
        return self.inner.run(feeds)


def test_a_batch_split_into_calls_answers_like_one_call(
    exported: tuple[Checkpoint, Path],
) -> None:
    ckpt, bundle = exported
    _, cut = _runners(bundle, ckpt)
    assert cut.per_call == events_per_call(cut.rows)
    inputs = _inputs(np.random.default_rng(11), 50, ckpt, cut.state_size, 3)
    whole = cut.run(*inputs)
    counting = _Counting(cut.runner)
    cut.runner = counting  # type: ignore[assignment]
    cut.per_call = 16
    split = cut.run(*inputs)
    assert counting.calls == 4  # 16 + 16 + 16 + 2
    for name in ("states", "top_items", "top_scores", "buy_prob"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(split, name))


def test_a_session_names_the_rows_it_scores(exported: tuple[Checkpoint, Path]) -> None:
    ckpt, bundle = exported
    session = StepSession.open(bundle, provider="cpu", warmup=False)
    assert session.scored_rows == rows_to_score(ckpt.vocab.size, ckpt.config.num_items, K, True)
    assert session.scored_rows < ckpt.vocab.capacity
