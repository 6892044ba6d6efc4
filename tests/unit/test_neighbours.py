"""The item-to-item transition table: counts, its fixed width, and the step's scatter-add
agreeing with the dense form evaluation uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamrec.models.nets.neighbours import (
    NeighbourTable,
    add_neighbours,
    as_tensors,
    latest_first,
)

pytestmark = pytest.mark.unit


def test_followers_are_counted_by_distance_and_kept_strongest_first() -> None:
    table = NeighbourTable.fit([np.array([1, 2, 3]), np.array([1, 2, 4])], rows=6, width=2)
    # 1 -> 2 twice at distance 1 (2.0); 1 -> 3 and 1 -> 4 once at distance 2 (0.5 each).
    assert table.ids[1].tolist()[0] == 2
    assert table.weights[1, 0] == pytest.approx(np.log1p(2.0))
    assert table.ids[1, 1] in (3, 4) and table.weights[1, 1] == pytest.approx(np.log1p(0.5))
    assert table.ids[5].tolist() == [0, 0] and table.weights[5].tolist() == [0.0, 0.0]
    assert table.ids[0].tolist() == [0, 0]  # padding leads nowhere


def test_the_latest_items_weigh_more() -> None:
    table = NeighbourTable.fit([np.array([1, 2]), np.array([3, 4])], rows=5, width=4)
    added = table.dense(np.array([[3, 1, 0]]))  # 3 latest, then 1
    assert added[0, 4] == pytest.approx(np.log1p(1.0))
    assert added[0, 2] == pytest.approx(0.5 * np.log1p(1.0))
    assert added[0, 0] == 0.0 and added[0, 1] == 0.0


def test_the_steps_scatter_add_matches_the_dense_form() -> None:
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 40, size=rng.integers(2, 30)) for _ in range(200)]
    table = NeighbourTable.fit(seqs, rows=40, width=8)
    items = np.zeros((5, 6), dtype=np.int64)
    lengths = np.array([1, 2, 3, 6, 4])
    for b, n in enumerate(lengths):
        items[b, :n] = rng.integers(1, 40, size=n)
    history = latest_first(items, lengths, table.recent)
    assert history[0].tolist() == [items[0, 0], 0, 0]
    assert history[3].tolist() == [items[3, 5], items[3, 4], items[3, 3]]
    base = rng.normal(size=(5, 40)).astype(np.float32)
    ids, weights, decays = as_tensors(table, alpha=2.0)
    got = add_neighbours(torch.from_numpy(base), torch.from_numpy(history), ids, weights, decays)
    want = base + 2.0 * table.dense(history)
    want[:, 0] = base[:, 0]  # dense() zeroes the padding row; the step leaves it to the mask
    np.testing.assert_allclose(got.numpy()[:, 1:], want[:, 1:], rtol=1e-5, atol=1e-6)


class _Flat:
    """A scorer with no opinion: every row scores the same (ties break by row order)."""

    max_len = 20

    def score(
        self, items: np.ndarray, actions: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, None]:
        return np.zeros((len(items), 64), dtype=np.float32), None


def _chain_split() -> object:
    """Users walk a ring of 40 items one step at a time: the next item follows the last."""
    from streamrec.models.data.actions import Action
    from streamrec.models.data.events import Event
    from streamrec.models.data.sequences import build_sequences, leave_one_out

    rng = np.random.default_rng(1)
    events = []
    for u in range(120):
        start = int(rng.integers(0, 40))
        for t in range(8):
            item = f"i{(start + t) % 40}"
            events.append(Event(f"u{u}", item, Action.CLICK, float(u * 100 + t)))
    return leave_one_out(build_sequences(events))


def test_the_blend_learns_what_follows_and_alpha_zero_is_the_model_alone() -> None:
    from streamrec.models.training.blend import blend_metrics, choose_blend, fit_table
    from streamrec.models.training.evaluate import evaluate

    split = _chain_split()
    rows = split.data.vocab.size  # type: ignore[attr-defined]
    table = fit_table(split, "test", rows)  # type: ignore[arg-type]
    alone = evaluate(_Flat(), split, "test")  # type: ignore[arg-type]
    blended = blend_metrics(_Flat(), split, "test", table, (0.0, 1.0))  # type: ignore[arg-type]
    assert blended[0.0]["HR@10"] == pytest.approx(alone["HR@10"])
    assert blended[0.0]["NDCG@10"] == pytest.approx(alone["NDCG@10"])
    assert blended[1.0]["MRR@10"] == pytest.approx(1.0)  # the ring's next item, first
    choice = choose_blend(_Flat(), split, rows, alphas=(0.0, 0.5))  # type: ignore[arg-type]
    assert choice.alpha == 0.5 and choice.test["MRR@10"] == pytest.approx(1.0)
