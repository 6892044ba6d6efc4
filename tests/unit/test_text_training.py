"""Unit tier for training with item text: the text-only loss, checkpoints, train/evaluate CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson

from streamrec.models.data.catalog import write_catalog
from streamrec.models.data.catalog_synthetic import item_topics, synthetic_catalog
from streamrec.models.data.sequences import build_sequences, leave_one_out
from streamrec.models.data.synthetic import SyntheticConfig, simulate
from streamrec.models.data.writers import write_events
from streamrec.models.nets.checkpoint import Checkpoint, load_any
from streamrec.models.nets.scoring import ModelScorer
from streamrec.models.nets.text_side import TextSide
from streamrec.models.text.train import train_with_text
from streamrec.models.training.cold_start import ColdStartData, cold_start_metrics, cold_start_split
from streamrec.models.training.train import TrainConfig

# Topic-driven users (no successor chains, focused, no drift): the topic is the signal.
SYNTH = SyntheticConfig(
    n_users=300,
    n_items=80,
    n_events=9000,
    n_topics=8,
    seed=3,
    sequential=0.0,
    topic_concentration=0.05,
    drift=0.0,
)
CFG = TrainConfig(
    embed_dim=16, hidden_dim=24, epochs=15, patience=15, threads=1, dropout=0.1, lr=5e-3
)
CFG = replace(CFG, batch_size=64)


def _topic_text(data: ColdStartData) -> np.ndarray:
    """A clean text matrix: each item's row is a noisy one-hot of its latent topic."""
    topics = item_topics(SYNTH)
    vocab = data.split.data.vocab
    rng = np.random.default_rng(0)
    text = np.zeros((vocab.capacity, 8), np.float32)
    for i, item in enumerate(vocab.ids):
        text[i + 2, topics[int(item[1:])]] = 1.0  # synthetic ids are "i<n>"; rows start at 2
    text[2 : vocab.size] += rng.normal(0, 0.05, (vocab.size - 2, 8)).astype(np.float32)
    return text


def _cold_hr(text_loss: float, data: ColdStartData, text: np.ndarray) -> float:
    result = train_with_text(
        data.split, CFG, text, "sum", hidden_rows=data.hidden_rows, text_loss=text_loss
    )
    v = data.split.data.vocab
    scorer = ModelScorer(result.model, v.capacity, v.size, CFG.max_len)  # type: ignore[arg-type]
    return cold_start_metrics(lambda i, a, n: scorer.score(i, a, n)[0], data)["HR@10"]


def test_text_only_loss_makes_unseen_items_rankable() -> None:
    data = cold_start_split(simulate(SYNTH), holdout_share=0.5, seed=1)
    text = _topic_text(data)
    random_hr = 10 / len(data.hidden_rows)
    with_loss = _cold_hr(1.0, data, text)
    assert with_loss > 2 * random_hr  # the topic in the text points at the user's topic
    assert with_loss > _cold_hr(0.0, data, text)


def test_checkpoint_keeps_the_text_side(tmp_path: Path) -> None:
    from streamrec.models.data.vocab import Vocabulary
    from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender

    vocab = Vocabulary.build(["a", "b"])
    cfg = RecurrentConfig(num_items=vocab.capacity, embed_dim=4, hidden_dim=4)
    side = TextSide("concat", np.ones((4, 6), np.float32), np.arange(4, dtype=np.float32))
    mix = np.eye(4, 8, dtype=np.float32)
    side = replace(side, mix=mix)
    path = Checkpoint(cfg, RecurrentRecommender(cfg).state_dict(), vocab, text_side=side).save(
        tmp_path / "m.pt"
    )
    loaded = load_any(path)
    assert isinstance(loaded, Checkpoint) and loaded.text_side is not None
    assert loaded.text_side.fusion == "concat"
    assert loaded.text_side.mix is not None and np.array_equal(loaded.text_side.mix, mix)
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    assert np.allclose(loaded.text_side.text_row(x), side.text_row(x))
    assert np.allclose(TextSide.from_bytes(side.to_bytes()).text_row(x), side.text_row(x))
    plain = Checkpoint(cfg, RecurrentRecommender(cfg).state_dict(), vocab).save(tmp_path / "p.pt")
    assert Checkpoint.load(plain).text_side is None


def test_train_and_evaluate_cli_with_a_catalog(tmp_path: Path, text_encoder_dir: Path) -> None:
    from streamrec.stream.cli.main import main

    synth = SyntheticConfig(n_users=60, n_items=40, n_events=2500, n_topics=4, seed=2)
    events = simulate(synth)
    data = cold_start_split(events, holdout_share=0.25, seed=0)
    hidden = {data.full.vocab.item_id(int(r)) for r in data.hidden_rows}
    train_file, full_file = tmp_path / "train.csv", tmp_path / "all.csv"
    write_events([e for e in events if e.item_id not in hidden], train_file)
    write_events(events, full_file)
    catalog = tmp_path / "catalog.csv"
    write_catalog(synthetic_catalog(synth), catalog)
    ckpt = tmp_path / "m.pt"
    common = ["--format", "csv", "--protocol", "loo", "--text-encoder", str(text_encoder_dir)]
    small = ["--embed-dim", "8", "--hidden-dim", "8", "--epochs", "1", "--no-progress"]
    train = ["train", "--data", str(train_file), "--out", str(ckpt), "--catalog", str(catalog)]
    rc = main([*train, *common, *small])
    assert rc == 0
    loaded = Checkpoint.load(ckpt)
    assert loaded.text_side is not None and loaded.text_side.fusion == "sum"
    assert not hidden & set(loaded.vocab.ids)
    evaluate = ["evaluate", "--data", str(full_file), *common]
    assert main([*evaluate, "--checkpoint", str(ckpt), "--catalog", str(catalog)]) == 0
    assert main([*evaluate, "--baseline", "text", "--catalog", str(catalog)]) == 0
    assert main([*evaluate, "--baseline", "text"]) == 2  # no --catalog: refused


def test_evaluate_gives_unseen_items_text_rows(tmp_path: Path, text_encoder_dir: Path) -> None:
    from streamrec.models.text.encoder import TextEncoder
    from streamrec.models.text.fusion import TextFusedRecommender, materialize, text_side
    from streamrec.models.text.rows import add_text_rows
    from streamrec.models.text.train import text_matrix
    from streamrec.models.workflow import evaluate_checkpoint

    synth = SyntheticConfig(n_users=60, n_items=40, n_events=2500, n_topics=4, seed=2)
    events = simulate(synth)
    data = cold_start_split(events, holdout_share=0.25, seed=0)
    hidden = sorted({data.full.vocab.item_id(int(r)) for r in data.hidden_rows})
    texts = {r.item_id: r.text() for r in synthetic_catalog(synth)}
    encoder = TextEncoder(text_encoder_dir)
    split = leave_one_out(build_sequences(e for e in events if e.item_id not in hidden))
    vocab = split.data.vocab
    assert not set(hidden) & set(vocab.ids)
    text = text_matrix(vocab, texts, encoder.encode)
    fused = train_with_text(split, replace(CFG, epochs=1), text).model
    assert isinstance(fused, TextFusedRecommender)
    plain = materialize(fused)
    ckpt = Checkpoint(plain.config, plain.state_dict(), vocab, text_side=text_side(fused))
    rows = add_text_rows(ckpt, [*hidden, "no-such-item"], texts, text_encoder_dir)
    assert rows.added == hidden  # the item without catalog text gets no row
    weight = rows.model.item_embedding.weight.detach().numpy()
    side = text_side(fused)
    expected = side.text_row(encoder.encode([texts[i] for i in hidden]))
    assert np.allclose(weight[[rows.vocab.index(i) for i in hidden]], expected, atol=1e-5)
    before = plain.item_embedding.weight.detach().numpy()
    assert np.array_equal(weight[: vocab.size], before[: vocab.size])  # old rows untouched
    path = ckpt.save(tmp_path / "m.pt")
    full, catalog = tmp_path / "all.csv", tmp_path / "c.csv"
    write_events(events, full)
    write_catalog(synthetic_catalog(synth), catalog)
    metrics = evaluate_checkpoint(
        path, full, "csv", "loo", catalog=catalog, encoder_dir=text_encoder_dir
    )
    assert metrics["new_items_with_text"] == len(hidden)
    assert 0.0 <= metrics["HR@10"] <= 1.0


def test_items_benchmark_quick_report(tmp_path: Path, text_encoder_dir: Path) -> None:
    from streamrec.stream.cli.main import main

    out = tmp_path / "report.json"
    args = ["bench", "items", "--quick", "--fusion", "sum", "--text-encoder", str(text_encoder_dir)]
    assert main([*args, "--out", str(out)]) == 0
    report = orjson.loads(out.read_bytes())
    assert report["data"]["name"] == "synthetic" and report["fusion"] == "sum"
    assert set(report["overall"]) == {"off", "sum"}
    cold = report["cold_start"]
    for name in ("text", "text_off", "text_similarity", "popularity", "random"):
        assert 0.0 <= cold[name]["HR@10"] <= 1.0
    assert cold["hidden_items"] > 0 and cold["targets"] > 0
    events = tmp_path / "e.csv"
    assert main(["bench", "items", "--events", str(events)]) == 2  # needs --catalog
