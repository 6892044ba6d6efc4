"""Unit tier: item-to-item transitions carried in the exported step and fed by the worker's step.

A tiny untrained model with a transition table where ``i5`` is always followed by ``i9`` and a
large weight: whatever the model scores, ``i9`` must lead the top-K after ``i5``, whether ``i5``
is the event itself or one of the user's earlier items (stored, or earlier in the same batch).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from streamrec.export.onnx_export import export_checkpoint
from streamrec.export.runtime import StepSession
from streamrec.export.spec import BLEND_STEP_INPUTS
from streamrec.models.data.actions import Action
from streamrec.models.nets.checkpoint import Checkpoint, CheckpointError
from streamrec.models.nets.neighbours import Blend, NeighbourTable
from streamrec.stream.records.schemas import Source, StreamEvent
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.step import StepConfig, step_batch
from tests.support.models import tiny_checkpoint

pytestmark = pytest.mark.unit

ALPHA = 100.0
NOW = 1_700_000_100.0


def _blended(seed: int = 3) -> Checkpoint:
    ckpt = tiny_checkpoint(n_items=60, seed=seed, spread=True)
    row = ckpt.vocab.index
    # i5 -> i9 (many times), i7 -> i8 (once): fitted over the vocabulary's used rows only.
    seqs = [np.array([row("i5"), row("i9")])] * 20 + [np.array([row("i7"), row("i8")])]
    table = NeighbourTable.fit(seqs, rows=ckpt.vocab.size, width=8)
    return replace(ckpt, blend=Blend(table, ALPHA))


@pytest.fixture(scope="module")
def blended_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("blend") / "b"
    export_checkpoint(_blended(), out, k=10, version="blend-1", variants=("int8",))
    return out


@pytest.fixture(scope="module")
def session(blended_bundle: Path) -> StepSession:
    return StepSession.open(blended_bundle, provider="cpu", threads=1)


def test_a_blended_bundle_is_verified_with_earlier_items_and_says_so(
    session: StepSession,
) -> None:
    m = session.manifest
    assert m.blend is not None and m.blend["alpha"] == ALPHA and m.blend["recent"] == 3
    assert m.export["inputs"] == list(BLEND_STEP_INPUTS)
    assert m.verification["step"]["random"]["agreement"] == 1.0
    assert session.previous == 2
    # The int8 variant keeps the table (its gate ran the graph with earlier items).
    int8 = m.verification["variants"]["int8"]
    assert not int8["reason"].startswith("could not run"), int8


def test_transitions_of_the_event_and_of_earlier_items_lead_the_top_k(
    session: StepSession,
) -> None:
    row = session.vocab.index
    state = session.initial_states(1)
    after_i5 = session.run(np.array([row("i5")]), np.array([1]), state)
    assert after_i5.top_items[0, 0] == row("i9")
    # i7's own follower i8 counts once; i5 one step back counts 20 times at half weight.
    earlier = np.array([[row("i5"), 0]])
    after_i5_i7 = session.run(np.array([row("i7")]), np.array([1]), state, previous=earlier)
    assert after_i5_i7.top_items[0, :2].tolist() == [row("i9"), row("i8")]
    alone = session.run(np.array([row("i7")]), np.array([1]), state)
    assert alone.top_items[0, 0] == row("i8")
    assert row("i9") not in alone.top_items[0, :2].tolist()


def _event(user: str, item: str, offset: int) -> StreamEvent:
    return StreamEvent(user, item, Action.CLICK, NOW - 100 + offset, Source("events", 0, offset))


def test_the_worker_step_feeds_each_users_earlier_items(session: StepSession) -> None:
    model = ServingModel(session)
    config = StepConfig(top_k=5)
    # In one batch: the second and third events see i5 one and two steps back.
    events = [_event("a", "i5", 0), _event("a", "i7", 1), _event("a", "i3", 2)]
    res = step_batch({}, events, model, config, NOW)
    assert [r.item_ids[0] for r in res.recommendations] == ["i9", "i9", "i9"]
    # Across batches: the stored state's recent items are the earlier items.
    first = step_batch({}, [_event("b", "i5", 0)], model, config, NOW)
    later = step_batch(first.states, [_event("b", "i7", 1)], model, config, NOW)
    assert later.recommendations[0].item_ids[:2] == ["i9", "i8"]
    # A user never seen with i5 gets no i9 from it.
    fresh = step_batch({}, [_event("c", "i7", 0)], model, config, NOW)
    assert fresh.recommendations[0].item_ids[0] == "i8"
    assert "i9" not in fresh.recommendations[0].item_ids[:2]


def test_a_blend_survives_the_checkpoint_and_a_table_wider_than_the_model_is_refused(
    tmp_path: Path,
) -> None:
    ckpt = _blended()
    loaded = Checkpoint.load(ckpt.save(tmp_path / "m.pt"))
    assert loaded.blend is not None and ckpt.blend is not None
    assert loaded.blend.alpha == ALPHA
    np.testing.assert_array_equal(loaded.blend.table.ids, ckpt.blend.table.ids)
    np.testing.assert_array_equal(loaded.blend.table.weights, ckpt.blend.table.weights)
    big = ckpt.blend.padded(ckpt.config.num_items + 1)
    with pytest.raises(CheckpointError, match="rows"):
        replace(ckpt, blend=big).save(tmp_path / "bad.pt")


def test_a_refreshed_table_adds_new_transitions_and_rows() -> None:
    table = NeighbourTable.fit([np.array([2, 3])], rows=5, width=2)
    fresh = table.refreshed([np.array([2, 4]), np.array([2, 4]), np.array([6, 2])], rows=8)
    assert fresh.rows == 8
    assert fresh.ids[2].tolist() == [4, 3]  # two new transitions outweigh the one kept
    assert fresh.weights[2, 1] == pytest.approx(table.weights[2, 0])  # the kept count is kept
    assert fresh.ids[6, 0] == 2  # a new row's followers
    with pytest.raises(ValueError, match="shrink"):
        table.refreshed([], rows=3)
