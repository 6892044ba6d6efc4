"""The item-text benchmark: fusion choice, text on vs off overall, and the cold-start protocol.

Runs on the synthetic generator with a catalog whose titles carry the items' topics
(:mod:`streamrec.models.data.catalog_synthetic`); every figure of the README's "item text and cold
start" section comes from :func:`run_text_benchmark`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from streamrec.models.data.catalog import load_catalog
from streamrec.models.data.catalog_synthetic import synthetic_catalog
from streamrec.models.data.events import Event
from streamrec.models.data.loaders import Format, load_events
from streamrec.models.data.sequences import build_sequences, leave_one_out
from streamrec.models.data.synthetic import SyntheticConfig, simulate
from streamrec.models.nets.scoring import ModelScorer, SequenceModel
from streamrec.models.text.fusion import FUSIONS, Fusion
from streamrec.models.text.train import text_matrix, train_with_text
from streamrec.models.training.cold_start import (
    baseline_scores,
    cold_start_metrics,
    cold_start_split,
    text_similarity_scores,
)
from streamrec.models.training.train import TrainConfig, train

log = logging.getLogger(__name__)

KEYS = ("HR@10", "NDCG@10", "HR@20", "NDCG@20")


def _pick(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(metrics[k]), 4) for k in KEYS if k in metrics}


def _scorer(model: Any, rows: int, size: int, max_len: int) -> Any:
    seq: SequenceModel = model
    scorer = ModelScorer(seq, rows, size, max_len)
    return lambda items, actions, lengths: scorer.score(items, actions, lengths)[0]


@dataclass
class TextBenchmarkData:
    """Events and item texts to benchmark on, with a name for the report."""

    name: str
    events: list[Event]
    texts: dict[str, str]
    details: dict[str, Any]


def synthetic_data(synth: SyntheticConfig) -> TextBenchmarkData:
    """The generator's events and the catalog whose titles carry the items' topics."""
    texts = {r.item_id: r.text() for r in synthetic_catalog(synth)}
    return TextBenchmarkData("synthetic", simulate(synth), texts, dict(synth.__dict__))


def file_data(events: Path, fmt: Format, catalog: Path, name: str = "") -> TextBenchmarkData:
    """Events and a catalog from files (e.g. ``streamrec items fetch-movielens``)."""
    loaded, report = load_events(events, fmt)
    texts = {r.item_id: r.text() for r in load_catalog(catalog)}
    details = {"events": str(events), "catalog": str(catalog), "cleaning": report.to_dict()}
    return TextBenchmarkData(name or events.stem, loaded, texts, details)


def run_text_benchmark(
    data: TextBenchmarkData,
    train_cfg: TrainConfig,
    encoder_dir: str | None = None,
    fusions: tuple[Fusion, ...] = FUSIONS,
    holdout_share: float = 0.2,
    text_loss: float = 2.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Train text-off and text-on (each fusion) models, then the cold-start protocol."""
    from streamrec.models.text.encoder import TextEncoder
    from streamrec.models.text.encoder_export import ensure_text_encoder

    events, texts = data.events, data.texts
    encoder = TextEncoder(ensure_text_encoder(encoder_dir))
    split = leave_one_out(build_sequences(events))
    vocab = split.data.vocab
    text = text_matrix(vocab, texts, encoder.encode)
    report: dict[str, Any] = {
        "data": {"name": data.name, **data.details},
        "train": train_cfg.to_dict(),
        "text_loss": text_loss,
        "items_with_text": int((abs(text).sum(1) > 0).sum()),
        "items": len(vocab.ids),
    }
    off = train(split, train_cfg, progress=False)
    overall: dict[str, Any] = {"off": _pick(off.test)}
    for fusion in fusions:
        on = train_with_text(split, train_cfg, text, fusion, text_loss=text_loss)
        overall[fusion] = _pick(on.test)
        log.warning("overall %s: %s (off %s)", fusion, overall[fusion], overall["off"])
    best: Fusion = max(fusions, key=lambda f: overall[f]["NDCG@10"])
    report["overall"], report["fusion"] = overall, best

    cold_data = cold_start_split(events, holdout_share, seed=seed)
    cvocab = cold_data.split.data.vocab
    ctext = text_matrix(cvocab, texts, encoder.encode)
    cold: dict[str, Any] = {}
    on = train_with_text(
        cold_data.split,
        train_cfg,
        ctext,
        best,
        hidden_rows=cold_data.hidden_rows,
        text_loss=text_loss,
    )
    score_on = _scorer(on.model, cvocab.capacity, cvocab.size, train_cfg.max_len)
    cold["text"] = _pick(cold_start_metrics(score_on, cold_data))
    off_cold = train(cold_data.split, train_cfg, progress=False)
    score_off = _scorer(off_cold.model, cvocab.capacity, cvocab.size, train_cfg.max_len)
    cold["text_off"] = _pick(cold_start_metrics(score_off, cold_data))
    cold["text_similarity"] = _pick(cold_start_metrics(text_similarity_scores(ctext), cold_data))
    for name, fn in baseline_scores(cold_data, seed).items():
        cold[name] = _pick(cold_start_metrics(fn, cold_data))
    cold["targets"] = len(cold_data.targets)
    cold["hidden_items"] = len(cold_data.hidden_rows)
    pop = cold["popularity"]["HR@10"]
    for name in ("text", "text_similarity"):
        ratio = round(cold[name]["HR@10"] / pop, 2) if pop else None
        cold[f"{name}_over_popularity_HR@10"] = ratio
    report["cold_start"] = cold
    report["encoder_cache"] = {"hits": encoder.hits, "misses": encoder.misses}
    return report


def default_configs(quick: bool = False) -> tuple[SyntheticConfig, TrainConfig]:
    """The benchmark's generator and training settings (``quick``: a tiny run for tests)."""
    synth = SyntheticConfig(n_users=1000, n_items=600, n_events=40_000, n_topics=20, seed=0)
    # Epochs, not seconds, bound the runs (same figures on a busy machine); the time budget
    # is only a safety net.
    cfg = TrainConfig(embed_dim=48, hidden_dim=96, epochs=40, patience=8, time_budget_s=600.0)
    cfg = replace(cfg, threads=1)  # more threads stall badly when the cores are shared
    if quick:
        synth = replace(synth, n_users=80, n_items=60, n_events=3000, n_topics=6)
        cfg = replace(cfg, embed_dim=16, hidden_dim=16, epochs=2, time_budget_s=10.0)
    return synth, cfg
