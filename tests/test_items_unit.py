"""Unit tier for item text: catalog records, encoder parity and cache, fusion, cold start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.catalog import CatalogError, ItemRecord, load_catalog, parse_item, write_catalog
from tests.item_support import text_encoder_dir

pytestmark = pytest.mark.unit
__all__ = ["text_encoder_dir"]


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
    from models.catalog_synthetic import item_topics, synthetic_catalog
    from models.synthetic import SyntheticConfig, _Catalog

    cfg = SyntheticConfig(n_items=120, n_topics=12, seed=5)
    assert (item_topics(cfg) == _Catalog(cfg, np.random.default_rng(5)).topic).all()
    assert len({r.item_id for r in synthetic_catalog(cfg)}) == 120


def test_text_encoder_batches_cache_and_meaning(text_encoder_dir: Path) -> None:
    from export.text_runtime import TextEncoder

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
    from models.gru import RecurrentConfig
    from models.text_fusion import TextFusedRecommender, materialize, text_side

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
    from export.item_rows import ItemRowScorer
    from export.runtime import StepSession
    from models.vocab import VocabularyFullError
    from tests.stream_support import build_tiny_bundle

    session = StepSession.open(build_tiny_bundle(tmp_path / "b", n_items=20), provider="cpu")
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
    from models.cold_start import baseline_scores, cold_start_metrics, cold_start_split
    from models.synthetic import generate_events

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
