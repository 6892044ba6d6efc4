"""The item-text benchmark: fusion choice, text on vs off overall, and the cold-start protocol.

Runs on the synthetic generator with a catalog whose titles carry the items' topics
(:mod:`models.catalog_synthetic`); every figure of the README's "item text and cold start"
section comes from :func:`run_text_benchmark`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import torch

from models.catalog import ItemRecord
from models.catalog_synthetic import synthetic_catalog
from models.cold_start import (
    baseline_scores,
    cold_start_metrics,
    cold_start_split,
    text_similarity_scores,
)
from models.scoring import ModelScorer, SequenceModel
from models.sequences import build_sequences, leave_one_out
from models.synthetic import SyntheticConfig, simulate
from models.text_fusion import FUSIONS, Fusion
from models.text_train import text_matrix, train_with_text
from models.train import TrainConfig, train

log = logging.getLogger(__name__)

KEYS = ("HR@10", "NDCG@10", "HR@20", "NDCG@20")


def _pick(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(metrics[k]), 4) for k in KEYS if k in metrics}


def _scorer(model: Any, rows: int, size: int, max_len: int) -> Any:
    seq: SequenceModel = model
    scorer = ModelScorer(seq, rows, size, max_len)
    return lambda items, actions, lengths: scorer.score(items, actions, lengths)[0]


def run_text_benchmark(
    synth: SyntheticConfig,
    train_cfg: TrainConfig,
    encoder_dir: str | None = None,
    fusions: tuple[Fusion, ...] = FUSIONS,
    holdout_share: float = 0.2,
    catalog: list[ItemRecord] | None = None,
) -> dict[str, Any]:
    """Train text-off and text-on (each fusion) models, then the cold-start protocol."""
    from export.text_encoder import ensure_text_encoder
    from export.text_runtime import TextEncoder

    events = simulate(synth)
    texts = {r.item_id: r.text() for r in (catalog or synthetic_catalog(synth))}
    encoder = TextEncoder(ensure_text_encoder(encoder_dir))
    split = leave_one_out(build_sequences(events))
    vocab = split.data.vocab
    text = text_matrix(vocab, texts, encoder.encode)
    report: dict[str, Any] = {"synthetic": synth.__dict__, "train": train_cfg.to_dict()}
    off = train(split, train_cfg, progress=False)
    overall: dict[str, Any] = {"off": _pick(off.test)}
    for fusion in fusions:
        on = train_with_text(split, train_cfg, text, fusion)
        overall[fusion] = _pick(on.test)
        log.warning("overall %s: %s (off %s)", fusion, overall[fusion], overall["off"])
    best: Fusion = max(fusions, key=lambda f: overall[f]["NDCG@10"])
    report["overall"], report["fusion"] = overall, best

    data = cold_start_split(events, holdout_share, seed=synth.seed)
    cvocab = data.split.data.vocab
    ctext = text_matrix(cvocab, texts, encoder.encode)
    cold: dict[str, Any] = {}
    on = train_with_text(data.split, train_cfg, ctext, best, hidden_rows=data.hidden_rows)
    cold["text"] = _pick(
        cold_start_metrics(_scorer(on.model, cvocab.capacity, cvocab.size, 50), data)
    )
    off_cold = train(data.split, train_cfg, progress=False)
    score_off = _scorer(off_cold.model, cvocab.capacity, cvocab.size, 50)
    cold["text_off"] = _pick(cold_start_metrics(score_off, data))
    cold["text_similarity"] = _pick(cold_start_metrics(text_similarity_scores(ctext), data))
    for name, fn in baseline_scores(data, synth.seed).items():
        cold[name] = _pick(cold_start_metrics(fn, data))
    cold["targets"] = len(data.targets)
    cold["hidden_items"] = len(data.hidden_rows)
    pop = cold["popularity"]["HR@10"]
    for name in ("text", "text_similarity"):
        ratio = round(cold[name]["HR@10"] / pop, 2) if pop else None
        cold[f"{name}_over_popularity_HR@10"] = ratio
    report["cold_start"] = cold
    report["encoder_cache"] = {"hits": encoder.hits, "misses": encoder.misses}
    return report


def default_configs(quick: bool = False) -> tuple[SyntheticConfig, TrainConfig]:
    """The benchmark's generator and training settings (``quick``: a tiny run for tests)."""
    synth = SyntheticConfig(n_users=1500, n_items=1000, n_events=60_000, n_topics=30, seed=0)
    cfg = TrainConfig(embed_dim=48, hidden_dim=96, epochs=30, patience=4, time_budget_s=60.0)
    cfg = replace(cfg, threads=max(1, min(2, torch.get_num_threads())))
    if quick:
        synth = replace(synth, n_users=80, n_items=60, n_events=3000, n_topics=6)
        cfg = replace(cfg, embed_dim=16, hidden_dim=16, epochs=2, time_budget_s=10.0)
    return synth, cfg
