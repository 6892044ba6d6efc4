"""``bench stream``'s default bundle: the replay's items, a catalog of the size asked for."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from streamrec.export.bundle import load_bundle
from streamrec.stream.tools.bench_model import build_bundle

pytestmark = pytest.mark.unit


def test_the_bench_bundle_scores_a_catalog_of_the_size_asked_for(tmp_path: Path) -> None:
    rows = [("u1", "a", "click", 1.0), ("u1", "b", "click", 2.0), ("u2", "a", "click", 3.0)]
    bundle = load_bundle(build_bundle(rows, tmp_path / "b", catalog=3000))
    assert bundle.manifest.dims.vocab_size == 2 + 3000  # reserved rows, then the catalog
    assert bundle.vocab.ids[:2] == ["a", "b"]  # the replay's items keep the first rows
    assert bundle.manifest.blend is not None and bundle.manifest.blend["entries"] == 1  # a -> b
    plain = load_bundle(build_bundle(rows, tmp_path / "p", transitions=False))
    assert plain.manifest.dims.vocab_size == 4 and plain.manifest.blend is None


def test_a_trained_catalog_grows_with_items_near_its_own(tmp_path: Path) -> None:
    import numpy as np

    from streamrec.models.nets.catalog_growth import grow_catalog
    from streamrec.models.nets.neighbours import Blend, NeighbourTable
    from tests.support.models import tiny_checkpoint

    ckpt = tiny_checkpoint(n_items=40, spread=True)
    table = NeighbourTable.fit([np.array([2, 3])], rows=ckpt.vocab.size, width=4)
    ckpt.blend = Blend(table, 2.0)
    grown = grow_catalog(ckpt, 1000)
    assert grown.vocab.size == 2 + 1000 and grown.vocab.ids[:40] == ckpt.vocab.ids
    assert grown.config.num_items == grown.vocab.capacity
    old = ckpt.state_dict["item_embedding.weight"].numpy()
    new = grown.state_dict["item_embedding.weight"].numpy()
    assert np.array_equal(new[: len(old)][:42], old[:42])  # trained rows untouched
    added = new[42:1002]
    nearest = np.abs(added[:, None, :] - old[None, 2:42, :]).sum(axis=2).min(axis=1)
    spread = np.abs(old[2:42, None, :] - old[None, 2:42, :]).sum(axis=2).mean()
    assert nearest.mean() < 0.6 * spread  # each added item sits near a trained one
    assert not new[1002:].any()  # headroom rows stay free
    assert grown.blend is ckpt.blend and grow_catalog(ckpt, 10) is ckpt
    model = grown.build_model()  # the grown state loads into the grown config
    assert model.item_bias.shape[0] == grown.vocab.capacity


def test_the_pure_step_is_timed_with_the_workers_garbage_collector(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The worker collects its youngest generation every gc_young_threshold allocations; the
    # rates the worker is compared with are measured the same way, then Python's is restored.
    from streamrec.stream.config.settings import load_settings
    from streamrec.stream.tools import bench_model

    seen: list[int] = []
    monkeypatch.setattr(
        bench_model, "_pure_step_rate", lambda *_: seen.append(gc.get_threshold()[0]) or {}
    )
    before = gc.get_threshold()
    bench_model.pure_step_rate(tmp_path, [], load_settings(gc_young_threshold=12_345))
    assert seen == [12_345] and gc.get_threshold() == before
