"""Unit tier: stored rows are re-encoded through item ids when the vocabulary changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamrec.export.runtime import StepSession
from streamrec.models.data.actions import Action
from streamrec.stream.records.schemas import Source, StreamEvent
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.state import UserState, topic_tag
from streamrec.stream.serving.step import StepConfig, step_batch

NOW = 1_700_000_100.0


@pytest.fixture
def model(tiny_bundle: Path) -> ServingModel:
    return ServingModel(StepSession.open(tiny_bundle, provider="cpu", threads=1))


def ev(user: str, item: str, offset: int, action: Action = Action.CLICK) -> StreamEvent:
    return StreamEvent(user, item, action, 1_700_000_000.0 + offset, Source("events", 0, offset))


def old_state(rows: list[int], actions: list[int], version: str = "old") -> UserState:
    return UserState(
        state=np.zeros(32, np.float16),
        model_version=version,
        event_count=len(rows),
        offsets={(topic_tag("events"), 0): 100},
        recent_items=np.asarray(rows, np.int32),
        recent_actions=np.asarray(actions, np.uint8),
        top_items=np.asarray(rows, np.int32),
        top_scores=np.linspace(1, 0, len(rows)).astype(np.float16),
    )


def test_rows_of_another_vocabulary_are_re_encoded_through_ids(model: ServingModel) -> None:
    vocab = model.scorer.vocab
    # The old model knew the same items in another order, plus one the new model lacks.
    old_ids = ["zz-gone", *reversed(vocab.ids)]
    model.remember("old", np.array(["", "", *old_ids], dtype=object))
    rows = [2, 3, 4]  # old rows: zz-gone, then the new vocabulary's last two items
    st = old_state(rows, [int(Action.CLICK), int(Action.BUY), int(Action.CLICK)])
    res = step_batch({"a": st}, [ev("a", "i0", 101)], model, StepConfig(), NOW)
    new = res.states["a"]
    expected = [1, vocab.index(old_ids[1]), vocab.index(old_ids[2]), vocab.index("i0")]
    assert new.recent_items.tolist() == expected  # unknown id -> UNK, never another item
    assert res.model_calls == 4 and res.reset == 0
    bought = vocab.index(old_ids[1])
    assert vocab.item_id(bought) not in res.recommendations[0].item_ids  # exclusion translated


def test_rows_of_an_unknown_vocabulary_are_dropped_not_mis_mapped(model: ServingModel) -> None:
    st = old_state([2, 3, 4], [int(Action.CLICK)] * 3, version="never-seen")
    res = step_batch({"a": st}, [ev("a", "i0", 101)], model, StepConfig(), NOW)
    assert res.reset == 1
    assert res.states["a"].recent_items.tolist() == [model.scorer.vocab.index("i0")]
    assert res.model_calls == 1


def test_replayed_top_k_of_an_unknown_vocabulary_is_not_mis_mapped(model: ServingModel) -> None:
    st = old_state([2, 3, 4], [int(Action.CLICK)] * 3, version="never-seen")
    res = step_batch({"a": st}, [ev("a", "i0", 50)], model, StepConfig(), NOW)
    assert res.duplicates == 1 and res.recommendations[0].item_ids == []
    model.remember("never-seen", model.row_ids)
    res = step_batch({"a": st}, [ev("a", "i0", 50)], model, StepConfig(), NOW)
    assert res.recommendations[0].item_ids == [model.scorer.vocab.ids[i - 2] for i in (2, 3, 4)]


def test_a_swap_passes_the_old_row_table_on(model: ServingModel, tiny_bundle: Path) -> None:
    newer = ServingModel(StepSession.open(tiny_bundle, provider="cpu", threads=1))
    newer.version = "newer"
    old = ServingModel(model.scorer)
    old.remember("older", np.array(["", "", "x"], dtype=object))
    newer.succeed(old, keep=5)
    assert set(newer.lineage) == {"older", old.version}
    newer.succeed(old, keep=1)
    assert list(newer.lineage) == [old.version]
