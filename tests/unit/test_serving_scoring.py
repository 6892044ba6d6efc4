"""Unit tier: STREAMREC_SCORING and STREAMREC_TOPK pick how a worker scores its catalog.

The int8 graph is export's admitted variant (it ranks like float32); exact is the float32
step. A worker asked for int8 without one fails at start with a clear error, and auto falls
back to exact wherever int8 cannot serve (no such graph, or a GPU). The item index serves the
top-K by default when the bundle carries one, the catalog is large and the step runs on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamrec.export.bundle import load_bundle
from streamrec.export.indexed_step import IndexedStep
from streamrec.export.onnx_export import export_checkpoint
from streamrec.export.spec import INDEX_ROLE
from streamrec.stream.config.settings import load_settings
from streamrec.stream.worker.serve import (
    INT8_GRAPH,
    WorkerConfigError,
    bundle_loader,
    scoring_graph,
    topk_source,
)
from tests.support.export import small_checkpoint


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("int8") / "bundle"
    bundle = export_checkpoint(small_checkpoint(seed=1), out, k=10, variants=("int8",))
    assert INT8_GRAPH in bundle.manifest.graphs  # admitted by export's gate
    return out


@pytest.mark.parametrize(
    ("scoring", "graphs", "on_gpu", "chosen"),
    [
        ("exact", {"step", INT8_GRAPH}, False, "step"),
        ("int8", {"step", INT8_GRAPH}, False, INT8_GRAPH),
        ("auto", {"step", INT8_GRAPH}, False, INT8_GRAPH),
        ("auto", {"step"}, False, "step"),
        ("auto", {"step", INT8_GRAPH}, True, "step"),
    ],
)
def test_scoring_picks_the_graph(scoring: str, graphs: set[str], on_gpu: bool, chosen: str) -> None:
    assert scoring_graph(load_settings(scoring=scoring), graphs, on_gpu) == chosen


@pytest.mark.parametrize(("graphs", "on_gpu"), [({"step"}, False), ({"step", INT8_GRAPH}, True)])
def test_int8_that_cannot_serve_is_refused_with_the_way_out(graphs: set[str], on_gpu: bool) -> None:
    with pytest.raises(WorkerConfigError, match="STREAMREC_SCORING"):
        scoring_graph(load_settings(scoring="int8"), graphs, on_gpu)


def test_the_loader_serves_the_chosen_graph(int8_bundle: Path, tiny_bundle: Path) -> None:
    def load(scoring: str, path: Path):  # type: ignore[no-untyped-def]
        settings = load_settings(scoring=scoring, onnx_provider="cpu")
        return bundle_loader(settings)(path).scorer

    exact, int8 = load("exact", int8_bundle), load("int8", int8_bundle)
    assert (exact.graph, int8.graph) == ("step", INT8_GRAPH)
    assert load("auto", tiny_bundle).graph == "step"  # no int8 graph in it
    batch = 16
    items = np.arange(2, 2 + batch, dtype=np.int64)
    states = np.zeros((batch, exact.state_size), np.float32)
    ones = np.ones(batch, np.int64)
    a, b = exact.run(items, ones, states), int8.run(items, ones, states)
    # int8 rounds the item table, which feeds the GRU too: states move a little, not far
    assert float(np.abs(a.states - b.states).max()) < 0.05
    pairs = zip(a.top_items, b.top_items, strict=True)
    overlap = np.mean([len(set(x) & set(y)) / len(x) for x, y in pairs])
    assert overlap >= 0.8  # ranks like float32, not identically
    with pytest.raises(WorkerConfigError, match="no admitted int8"):
        load("int8", tiny_bundle)


@pytest.fixture(scope="module")
def index_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("index") / "bundle"
    bundle = export_checkpoint(small_checkpoint(seed=2), out, k=10, index=True, encode=False)
    assert bundle.manifest.index is not None  # admitted by export's recall gate
    return out


@pytest.mark.parametrize(
    ("topk", "min_items", "scoring", "on_gpu", "chosen"),
    [
        ("auto", 0, "exact", False, INDEX_ROLE),
        ("auto", 10**6, "exact", False, None),  # a small catalog: exact is as fast
        ("auto", 0, "exact", True, None),  # on a GPU the full product stays the path
        ("auto", 0, "int8", False, None),  # int8 asked for explicitly
        ("exact", 0, "exact", False, None),
        ("index", 10**6, "exact", False, INDEX_ROLE),
    ],
)
def test_topk_picks_the_index_by_catalog_size_and_device(
    index_bundle: Path, topk: str, min_items: int, scoring: str, on_gpu: bool, chosen: str | None
) -> None:
    settings = load_settings(topk=topk, index_min_items=min_items, scoring=scoring)
    assert topk_source(settings, load_bundle(index_bundle).manifest, on_gpu) == chosen


def test_index_without_one_is_refused_and_the_loader_serves_it(
    index_bundle: Path, tiny_bundle: Path
) -> None:
    with pytest.raises(WorkerConfigError, match="STREAMREC_TOPK=index"):
        topk_source(load_settings(topk="index"), load_bundle(tiny_bundle).manifest, False)
    settings = load_settings(topk="auto", index_min_items=0, onnx_provider="cpu")
    scorer = bundle_loader(settings)(index_bundle).scorer
    assert scorer.graph == INDEX_ROLE and isinstance(scorer.step, IndexedStep)
    exact = bundle_loader(load_settings(topk="exact", onnx_provider="cpu"))(index_bundle).scorer
    assert isinstance(scorer.step, IndexedStep)
    scorer.step.index.ef_search = scorer.vocab.capacity  # the whole graph: exact's answers
    items = np.arange(2, 34, dtype=np.int64)
    states = np.zeros((32, exact.state_size), np.float32)
    ones = np.ones(32, np.int64)
    assert np.array_equal(scorer.run(items, ones, states).top_items[:, :10],
                          exact.run(items, ones, states).top_items[:, :10])  # fmt: skip
