"""Unit tier: the item index in a bundle: built and gated at export, served like exact scoring.

Tiny untrained models over a few hundred items: small enough that the HNSW graph finds the
exact top-K, so the index-served step must return what the exact step graph returns (with
exclusions and transitions); a floor above what the index reaches must refuse it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from streamrec.export.bundle import load_bundle
from streamrec.export.index_gate import recall_at
from streamrec.export.indexed_step import IndexedStep
from streamrec.export.item_table import ItemTable
from streamrec.export.onnx_export import export_checkpoint
from streamrec.export.runtime import StepSession
from streamrec.export.spec import INDEX_FILE, ITEMS_FILE, QUERY_FILE
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.neighbours import Blend, NeighbourTable
from tests.support.models import tiny_checkpoint

pytestmark = pytest.mark.unit

N_ITEMS = 400


def _blended() -> Checkpoint:
    ckpt = tiny_checkpoint(n_items=N_ITEMS, seed=5, spread=True)
    rng = np.random.default_rng(0)
    seqs = [rng.integers(2, ckpt.vocab.size, 6) for _ in range(300)]
    table = NeighbourTable.fit(seqs, rows=ckpt.vocab.size, width=8)
    return replace(ckpt, blend=Blend(table, 3.0))


@pytest.fixture(scope="module", params=["plain", "blended"])
def indexed_bundle(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    ckpt = tiny_checkpoint(n_items=N_ITEMS, seed=4, spread=True)
    if request.param == "blended":
        ckpt = _blended()
    out = tmp_path_factory.mktemp("indexed") / "b"
    export_checkpoint(ckpt, out, k=10, version=f"idx-{request.param}", index=True)
    return out


def _inputs(session: StepSession, batch: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    size = session.vocab.size
    items = rng.integers(2, size, batch)
    actions = rng.integers(1, 3, batch)
    states = rng.uniform(-1, 1, (batch, session.state_size)).astype(np.float32)
    exclude = rng.integers(2, size, (batch, 4))
    exclude[::3, 2:] = 0
    previous = rng.integers(0, size, (batch, max(1, session.previous)))
    return items, actions, states, exclude, previous


def test_export_writes_the_index_with_its_recall(indexed_bundle: Path) -> None:
    bundle = load_bundle(indexed_bundle)
    info = bundle.manifest.index
    assert info is not None
    assert {QUERY_FILE, ITEMS_FILE, INDEX_FILE} <= set(bundle.manifest.files)
    assert bundle.manifest.graphs["query"] == QUERY_FILE
    assert info.recall >= info.floor == 0.95
    assert info.rows == bundle.vocab.size - 2  # every assigned row, PAD and UNK left out
    report = bundle.manifest.verification["index"]
    assert report["admitted"] and report["ef_search"] == info.ef_search
    assert bundle.manifest.verification["query"]["max_query_diff"] <= 1e-4


def test_the_index_served_step_answers_like_the_exact_step(indexed_bundle: Path) -> None:
    exact = StepSession.open(indexed_bundle, provider="cpu", threads=1)
    indexed = StepSession.open(indexed_bundle, provider="cpu", threads=1, graph="index")
    assert isinstance(indexed.step, IndexedStep)
    assert indexed.previous == exact.previous
    # The exported ef reaches the gate's floor, not certainty, and the graph's multi-threaded
    # build differs between runs (once 2 of 3,000 top-10 entries were missed): a search over
    # the whole graph finds what exact scoring finds, so what is checked is the served path
    # itself (candidates, followers, exact rescoring, exclusions).
    indexed.step.index.ef_search = N_ITEMS
    items, actions, states, exclude, previous = _inputs(exact, 300, seed=1)
    want = exact.run(items, actions, states, exclude, previous)
    got = indexed.run(items, actions, states, exclude, previous)
    np.testing.assert_allclose(got.states, want.states, atol=1e-5)
    np.testing.assert_allclose(got.buy_prob, want.buy_prob, atol=1e-5)
    assert recall_at((want.top_items, want.top_scores), got.top_items) == 1.0
    np.testing.assert_allclose(got.top_scores, want.top_scores, rtol=1e-4, atol=1e-4)
    for row in range(len(items)):  # exclusions are never returned
        assert not set(exclude[row][exclude[row] > 0]) & set(got.top_items[row].tolist())


def test_the_transitions_bring_their_followers_into_the_candidates(tmp_path: Path) -> None:
    """A follower the index would not fetch (a low score) still leads after its item."""
    ckpt = tiny_checkpoint(n_items=N_ITEMS, seed=4, spread=True)
    row = ckpt.vocab.index
    seqs = [np.array([row("i5"), row("i9")])] * 20
    blended = replace(
        ckpt, blend=Blend(NeighbourTable.fit(seqs, rows=ckpt.vocab.size, width=8), 100.0)
    )
    export_checkpoint(blended, tmp_path / "b", k=10, version="idx-follow", index=True)
    session = StepSession.open(tmp_path / "b", provider="cpu", threads=1, graph="index")
    assert isinstance(session.step, IndexedStep)
    step = session.step
    step.overfetch = 0  # the index alone fetches K rows; i9 is not among them
    feeds = {"items": np.array([row("i5")]), "actions": np.array([1])}
    state = session.initial_states(1)
    _, query, _ = step.runner.run({**feeds, "state": state})
    assert row("i9") not in step.index.search(query, 10)[1][0].tolist()
    out = session.run(feeds["items"], feeds["actions"], state)
    assert out.top_items[0, 0] == row("i9")


def test_an_index_below_the_floor_is_refused(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(n_items=N_ITEMS, seed=4, spread=True)
    bundle = export_checkpoint(ckpt, tmp_path / "b", k=10, index=True, index_floor=1.01 - 1e-9)
    assert bundle.manifest.index is None
    assert "query" not in bundle.manifest.graphs
    assert not {QUERY_FILE, ITEMS_FILE, INDEX_FILE} & set(bundle.manifest.files)
    report = bundle.manifest.verification["index"]
    assert not report["admitted"] and report["reason"].startswith("refused")
    with pytest.raises(Exception, match="no item index"):
        StepSession.open(tmp_path / "b", provider="cpu", graph="index")


def test_small_catalogs_get_no_index_by_default(tmp_path: Path) -> None:
    bundle = export_checkpoint(tiny_checkpoint(n_items=50), tmp_path / "b", k=5)
    assert bundle.manifest.index is None and "index" not in bundle.manifest.verification


def test_new_rows_join_the_index_without_a_rebuild(indexed_bundle: Path) -> None:
    session = StepSession.open(indexed_bundle, provider="cpu", threads=1, graph="index")
    step = session.step
    assert isinstance(step, IndexedStep)
    free = session.vocab.size  # the first unassigned row
    before = step.index.size
    feeds = {"items": np.array([3]), "actions": np.array([1]), "state": session.initial_states(1)}
    new_state, query, _ = step.runner.run(feeds)
    out = step.run(feeds["items"], feeds["actions"], feeds["state"])
    assert free not in out.top_items[0].tolist()
    # A new item whose vector is the user's query, scaled: it must come first.
    grown = step.with_items([free], query * 50, 0.0)
    assert grown.index.size == before + 1
    after = grown.run(feeds["items"], feeds["actions"], feeds["state"])
    assert after.top_items[0, 0] == free
    np.testing.assert_allclose(after.states, new_state, atol=1e-6)
    # The step it grew from keeps its own table: the new row has no score there.
    assert free not in step.run(feeds["items"], feeds["actions"], feeds["state"]).top_items


def test_the_item_table_round_trips_and_refuses_garbage() -> None:
    table = ItemTable(
        np.ones((5, 3), np.float32), np.array([-np.inf, -np.inf, 0, 1, 2], np.float32)
    )
    again = ItemTable.from_bytes(table.to_bytes())
    np.testing.assert_array_equal(again.table, table.table)
    assert again.assigned().tolist() == [2, 3, 4] and again.recent == 0
    with pytest.raises(Exception, match="not an item table"):
        ItemTable.from_bytes(b"garbage")


def test_bundle_inspect_and_verify_show_the_index(
    indexed_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamrec.stream.cli.main import main

    assert main(["bundle", "inspect", str(indexed_bundle)]) == 0
    assert "item index  items.faiss" in capsys.readouterr().out
    assert main(["bundle", "verify", str(indexed_bundle)]) == 0
    assert "item index serves" in capsys.readouterr().out


def test_offline_metrics_through_the_index_match_exact_scoring(indexed_bundle: Path) -> None:
    """`streamrec evaluate --bundle --topk index`: what the worker serves, ranked offline."""
    from streamrec.export.bundle_scorer import BundleScorer
    from streamrec.models.data.sequences import build_sequences, leave_one_out
    from streamrec.models.data.synthetic import generate_events
    from streamrec.models.training.evaluate import evaluate

    events = generate_events(n_users=120, n_items=N_ITEMS, n_events=2400, seed=3)
    metrics = {}
    for graph in ("step", "index"):
        session = StepSession.open(indexed_bundle, provider="cpu", threads=1, graph=graph)
        split = leave_one_out(build_sequences(events, session.vocab.copy()))
        metrics[graph] = evaluate(BundleScorer(session), split, "test", ks=(10,))
    assert metrics["step"]["targets"] == metrics["index"]["targets"] > 100
    for key in ("HR@10", "NDCG@10"):
        assert metrics["index"][key] == pytest.approx(metrics["step"][key], abs=1e-9)
    # Not an all -inf comparison: each history gets the step's K finite scores.
    session = StepSession.open(indexed_bundle, provider="cpu", threads=1, graph="index")
    items = np.array([[3, 4, 5, 0], [6, 0, 0, 0]])
    scores, _ = BundleScorer(session).score(items, np.ones_like(items), np.array([3, 1]))
    assert (np.isfinite(scores).sum(axis=1) == session.k).all()
    assert not np.isfinite(scores[0, [3, 4, 5]]).any()  # the history is never recommended
