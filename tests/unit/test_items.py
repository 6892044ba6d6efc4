"""Unit tier for item text: catalog records, encoder parity and cache, fusion, cold start."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from streamrec.models.data.catalog import (
    CatalogError,
    ItemRecord,
    load_catalog,
    parse_item,
    write_catalog,
)
from streamrec.models.nets.text_side import TextSide
from streamrec.stream.serving.model import ServingModel


def test_item_record_validation_and_text() -> None:
    r = parse_item({"item_id": 7, "title": " Red shoes ", "brand": "Acme", "price": "12.5"})
    assert r.item_id == "7" and r.title == "Red shoes" and r.price == 12.5
    assert r.text() == "Red shoes, by Acme"
    assert ItemRecord.from_json(r.to_json()) == r
    for bad in (
        {"title": "x"},
        {"item_id": "a", "title": ""},
        {"item_id": "a", "title": "t", "price": -1},
        [],
    ):
        with pytest.raises(CatalogError):
            parse_item(bad)
    with pytest.raises(CatalogError):
        ItemRecord.from_json(b"{nope")


@pytest.mark.parametrize("name", ["items.csv", "items.jsonl"])
def test_catalog_files_round_trip(tmp_path: Path, name: str) -> None:
    items = [
        ItemRecord(
            item_id="a",
            title="A lamp",
            category="lighting",
            brand=None,
            price=None,
            description=None,
        ),
        ItemRecord(
            item_id="b", title="B tea", category=None, brand="Z", price=3.0, description="green"
        ),
    ]
    path = write_catalog(items, tmp_path / name)
    assert load_catalog(path) == items


def test_catalog_bad_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("item_id,title\na,ok\nb,\n")
    with pytest.raises(CatalogError, match=r"c.csv:3"):
        load_catalog(path)


def test_synthetic_catalog_topics_match_the_generator() -> None:
    from streamrec.models.data.catalog_synthetic import item_topics, synthetic_catalog
    from streamrec.models.data.synthetic import SyntheticConfig, _Catalog

    cfg = SyntheticConfig(n_items=120, n_topics=12, seed=5)
    assert (item_topics(cfg) == _Catalog(cfg, np.random.default_rng(5)).topic).all()
    assert len({r.item_id for r in synthetic_catalog(cfg)}) == 120


def test_text_encoder_batches_cache_and_meaning(text_encoder_dir: Path) -> None:
    from streamrec.models.text.encoder import TextEncoder

    enc = TextEncoder(text_encoder_dir, batch_size=2)
    texts = [
        "zoom lens for a camera",
        "mirrorless camera body",
        "green tea leaves",
        "zoom lens for a camera",
    ]
    together = enc.encode(texts)
    assert together.shape == (4, 384)
    assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    assert enc.misses == 3 and enc.hits == 0  # the repeated text ran once
    again = enc.encode(texts[:1])
    assert enc.hits == 1 and np.array_equal(again[0], together[0])
    single = TextEncoder(text_encoder_dir, cache_size=0).encode(texts[2:3])
    assert np.abs(single[0] - together[2]).max() < 1e-5  # padding in a batch changes nothing
    sims = together @ together.T
    assert sims[0, 1] > sims[0, 2]


@pytest.mark.parametrize("fusion", ["sum", "gate", "concat"])
def test_fusion_cold_rows_use_text_alone_and_materialize_matches(fusion: str) -> None:
    from streamrec.models.nets.gru import RecurrentConfig
    from streamrec.models.text.fusion import TextFusedRecommender, materialize, text_side

    torch.manual_seed(0)
    n, t = 12, 5
    text = torch.randn(n, t)
    text[:2] = 0  # PAD, UNK
    use_id = torch.ones(n)
    use_id[9:] = 0  # items without interactions
    model = TextFusedRecommender(
        RecurrentConfig(num_items=n, embed_dim=4, hidden_dim=6), text, use_id, fusion
    ).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        model.fused.ids.weight.normal_()
        table = model.fused.weight
    assert torch.all(table[0] == 0)
    side = text_side(model)
    cold = side.text_row(text[9:].numpy())
    assert np.allclose(cold, table[9:].numpy(), atol=1e-5)
    plain = materialize(model)
    items, actions, state = torch.tensor([3, 10]), torch.tensor([1, 2]), torch.zeros(2, 6)
    with torch.no_grad():
        a = model.step(items, actions, state)
        b = plain.step(items, actions, state)
    for x, y in zip(a, b, strict=True):
        assert torch.allclose(x, y, atol=1e-5)


def test_new_item_rows_in_a_loaded_step_graph(tmp_path: Path) -> None:
    from streamrec.export.item_rows import ItemRowScorer
    from streamrec.export.runtime import StepSession
    from streamrec.models.data.vocab import VocabularyFullError
    from tests.support.models import tiny_bundle_at

    session = StepSession.open(tiny_bundle_at(tmp_path / "b", n_items=20), provider="cpu")
    scorer = ItemRowScorer.from_session(session)
    states = np.random.default_rng(0).normal(size=(3, session.state_size)).astype(np.float32)
    items, actions = np.array([2, 5, 7]), np.ones(3, np.int64)
    before = session.run(items, actions, states)
    assert np.array_equal(scorer.run(items, actions, states).top_items, before.top_items)
    bias = float(scorer.known_bias().max()) + 100.0
    grown = scorer.with_items(["fresh"], np.zeros((1, 16), np.float32), bias)
    row = grown.vocab.index("fresh")
    assert row == session.vocab.size and "fresh" not in scorer.vocab
    after = grown.run(items, actions, states)
    assert (after.top_items[:, 0] == row).all()
    assert np.allclose(after.states, before.states)  # existing rows untouched
    with pytest.raises(VocabularyFullError):
        grown.with_items([f"x{i}" for i in range(100)], np.zeros((100, 16), np.float32), 0.0)


def test_cold_start_protocol_hides_items_from_training() -> None:
    from streamrec.models.data.synthetic import generate_events
    from streamrec.models.training.cold_start import (
        baseline_scores,
        cold_start_metrics,
        cold_start_split,
    )

    events = generate_events(n_users=60, n_items=40, n_events=2000, seed=1)
    data = cold_start_split(events, holdout_share=0.25, seed=1)
    hidden = set(data.hidden_rows.tolist())
    assert len(hidden) == 10
    assert not any(set(s.tolist()) & hidden for s in data.split.data.items)
    assert len(data.targets) > 0
    assert all(
        int(data.full.items[u][p]) in hidden
        for u, p in zip(data.targets.user, data.targets.pos, strict=True)
    )
    scores = {k: cold_start_metrics(fn, data)["HR@10"] for k, fn in baseline_scores(data).items()}
    assert scores["popularity"] == pytest.approx(1.0)  # 10 candidates: top-10 holds them all
    assert 0 <= scores["random"] <= 1


TITLE = ItemRecord(
    item_id="new-1", title="trail shoes", category=None, brand=None, price=None, description=None
)


@pytest.fixture(scope="module")
def text_bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two tiny models whose projections aim the title at their top item, and one without."""
    from tests.support.items import HashEncoder, text_bundle

    root = tmp_path_factory.mktemp("text-bundles")
    text = HashEncoder().encode([TITLE.text()])[0]
    return (
        text_bundle(root / "v1", text, seed=0, version="v1"),
        text_bundle(root / "v2", text, seed=1, version="v2"),
        text_bundle(root / "v3", None, seed=2, version="v3"),
    )


def _serving(path: Path) -> ServingModel:
    from streamrec.export.runtime import StepSession

    return ServingModel(StepSession.open(path, provider="cpu", threads=1, warmup=False))


def _row_vector(model: ServingModel, item: str) -> np.ndarray:
    from streamrec.export.item_rows import ITEM_TABLE, ItemRowScorer

    scorer = model.scorer
    assert isinstance(scorer, ItemRowScorer)
    vector: np.ndarray = scorer.array(ITEM_TABLE)[scorer.vocab.index(item)]
    return vector


def test_item_rows_take_the_projection_from_the_serving_bundle(
    text_bundles: tuple[Path, Path, Path],
) -> None:
    from streamrec.export.bundle import load_bundle
    from streamrec.stream.items.cold_start import ItemRows
    from tests.support.items import HashEncoder

    encoder = HashEncoder()
    model = _serving(text_bundles[0])
    grown = ItemRows(encoder).add(model, [TITLE])
    assert grown is not None and grown.version == "v1" and grown.size == model.size + 1
    side = load_bundle(text_bundles[0]).text_side()
    assert side is not None
    expected = side.text_row(encoder.encode([TITLE.text()]))[0]
    assert np.allclose(_row_vector(grown, "new-1"), expected)
    out = grown.scorer.run(np.array([2]), np.ones(1, np.int64), np.zeros((1, 32), np.float32))
    assert grown.items(out.top_items[0], out.top_scores[0])[0][0] == "new-1"
    assert ItemRows(encoder).add(grown, [TITLE]) is None  # known now
    other = ItemRecord.from_json(TITLE.to_json().replace(b"new-1", b"new-2"))
    again = ItemRows(encoder).add(grown, [other])  # the grown graph still knows its bundle
    assert again is not None and "new-1" in again.scorer.vocab and "new-2" in again.scorer.vocab


def test_item_rows_join_the_item_index_of_an_index_served_model(tmp_path: Path) -> None:
    from streamrec.export.item_rows import IndexedRowScorer
    from streamrec.export.runtime import StepSession
    from streamrec.stream.items.cold_start import ItemRows
    from tests.support.items import HashEncoder, text_bundle

    encoder = HashEncoder()
    path = text_bundle(tmp_path / "ix", encoder.encode([TITLE.text()])[0], index=True)
    session = StepSession.open(path, provider="cpu", threads=1, warmup=False, graph="index")
    model = ServingModel(session)
    grown = ItemRows(encoder).add(model, [TITLE])
    assert grown is not None and isinstance(grown.scorer, IndexedRowScorer)
    row = grown.scorer.vocab.index("new-1")
    import faiss

    ids = faiss.vector_to_array(grown.scorer.step.index.index.id_map)
    assert row in ids.tolist()  # added to the HNSW graph, not rebuilt
    out = grown.scorer.run(np.array([2]), np.ones(1, np.int64), np.zeros((1, 32), np.float32))
    assert grown.items(out.top_items[0], out.top_scores[0])[0][0] == "new-1"
    other = ItemRecord.from_json(TITLE.to_json().replace(b"new-1", b"new-2"))
    again = ItemRows(encoder).add(grown, [other])
    assert again is not None and again.scorer.vocab.size == model.scorer.vocab.size + 2


def test_a_bundle_without_projection_adds_no_rows_and_says_so_once(
    text_bundles: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    from streamrec.stream.items.cold_start import ItemRows
    from tests.support.items import HashEncoder

    model = _serving(text_bundles[2])
    rows = ItemRows(HashEncoder())
    with caplog.at_level(logging.WARNING, logger="streamrec.stream.items.cold_start"):
        assert rows.add(model, [TITLE]) is None
        assert rows.add(model, [TITLE]) is None
    said = [r for r in caplog.records if "carries no text projection" in r.message]
    assert len(said) == 1 and "v3" in said[0].message
    weight = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    fallback = TextSide("sum", weight, np.zeros(16, np.float32))
    assert ItemRows(HashEncoder(), fallback=fallback).add(model, [TITLE]) is not None
    too_wide = TextSide("sum", np.zeros((16, 9), np.float32), np.zeros(16, np.float32))
    assert ItemRows(HashEncoder(), fallback=too_wide).add(model, [TITLE]) is None


def test_an_announced_item_survives_hot_swaps(text_bundles: tuple[Path, Path, Path]) -> None:
    """Announced, never clicked: re-added with each new bundle's projection after a swap."""
    from streamrec.export.bundle import load_bundle
    from streamrec.stream.items.catalog import ItemCatalog
    from streamrec.stream.items.cold_start import ItemRows
    from streamrec.stream.serving.slot import ModelSlot
    from tests.support.items import HashEncoder

    encoder = HashEncoder()
    holder = ModelSlot(_serving(text_bundles[0]))
    known = ItemRecord.from_json(TITLE.to_json().replace(b"new-1", b"i3"))
    table = {TITLE.item_id.encode(): TITLE.to_json(), b"i3": known.to_json()}
    catalog = ItemCatalog(holder, table, ItemRows(encoder))
    catalog.announce([TITLE, known])
    asyncio.run(catalog.cover())
    first = holder.model
    assert first.size == _serving(text_bundles[0]).size + 1  # i3 was known: one new row
    v1_row = _row_vector(first, "new-1")
    asyncio.run(catalog.cover())  # nothing new: the model is left as it is
    assert holder.model is first
    holder.swap(_serving(text_bundles[1]))  # hot swap to v2: it has never seen new-1
    catalog.rescan()
    asyncio.run(catalog.cover())
    assert holder.model.version == "v2" and "new-1" in holder.model.scorer.vocab
    side = load_bundle(text_bundles[1]).text_side()
    assert side is not None
    v2_row = _row_vector(holder.model, "new-1")
    assert np.allclose(v2_row, side.text_row(encoder.encode([TITLE.text()]))[0])
    assert not np.allclose(v1_row, v2_row)
    holder.swap(_serving(text_bundles[2]))  # a bundle without projection: no row, no crash
    catalog.rescan()
    asyncio.run(catalog.cover())
    assert "new-1" not in holder.model.scorer.vocab


def test_fine_tuning_keeps_the_text_projection() -> None:
    from dataclasses import replace

    from streamrec.models.data.actions import Action
    from streamrec.models.data.events import Event
    from streamrec.models.training.online import FineTuneConfig, fine_tune
    from tests.support.items import aiming_side, tiny_checkpoint

    base = tiny_checkpoint(n_items=20)
    parent = replace(base, text_side=aiming_side(base, np.ones(8, np.float32)))
    events = [Event("u1", f"i{i % 25}", Action.CLICK, float(i), None) for i in range(40)]
    tuned = fine_tune(parent, events, FineTuneConfig(epochs=1))
    assert tuned.new_items and tuned.checkpoint.text_side is parent.text_side
