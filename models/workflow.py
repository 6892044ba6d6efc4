"""What ``streamrec train`` and ``streamrec evaluate`` do, as functions the CLI and tests call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.checkpoint import AttentionCheckpoint, Checkpoint, load_any
from models.cleaning import CleaningReport, TsUnit
from models.events import Event
from models.loaders import ColumnMap, Format, load_events
from models.metrics import Ties
from models.sequences import Split, build_sequences, leave_one_out, time_split
from models.vocab import Vocabulary

log = logging.getLogger(__name__)

Protocol = Literal["loo", "time"]
Baseline = Literal["popularity", "cooccurrence"]


@dataclass
class Dataset:
    """Loaded, cleaned and split data."""

    events: list[Event]
    report: CleaningReport
    split: Split


def load_dataset(
    path: str | Path,
    fmt: Format,
    protocol: Protocol | None = None,
    columns: ColumnMap | None = None,
    ts_unit: TsUnit = "s",
    k_core: int = 0,
    buys: str | Path | None = None,
    vocab: Vocabulary | None = None,
    test_share: float = 0.2,
) -> Dataset:
    """Load ``path`` and split it (``loo`` by default for ``sequences``, ``time`` otherwise)."""
    events, report = load_events(path, fmt, columns, ts_unit=ts_unit, k_core=k_core, buys=buys)
    if not events:
        raise ValueError(f"{path}: no usable events ({report.to_dict()})")
    protocol = protocol or ("loo" if fmt == "sequences" else "time")
    data = build_sequences(events, vocab)
    split = leave_one_out(data) if protocol == "loo" else time_split(data, test_share)
    log.info(
        "%s: %d events kept of %d rows, %d users, %d items, protocol %s",
        path,
        report.kept,
        report.rows,
        len(data.users),
        data.vocab.size,
        split.protocol,
    )
    return Dataset(events, report, split)


def evaluate_baseline(
    dataset: Dataset, baseline: Baseline, which: str = "test", ties: Ties = "index"
) -> dict[str, float]:
    """Metrics of a counting baseline fitted on the events before the ``which`` targets."""
    from models.baselines import CooccurrenceScorer, PopularityScorer
    from models.evaluate import evaluate

    split = dataset.split
    scorer = (
        PopularityScorer(split, which)
        if baseline == "popularity"
        else CooccurrenceScorer(split, which)
    )
    return evaluate(scorer, split, which, ties=ties)


def evaluate_checkpoint(
    path: str | Path,
    data: str | Path,
    fmt: Format,
    protocol: Protocol | None = None,
    which: str = "test",
    ties: Ties = "index",
    **load: Any,
) -> dict[str, float]:
    """Metrics of a trained checkpoint; the data is indexed with the checkpoint's vocabulary."""
    from models.evaluate import evaluate
    from models.scoring import ModelScorer
    from models.train import pick_device

    ckpt = load_any(path)
    dataset = load_dataset(data, fmt, protocol, vocab=ckpt.vocab, **load)
    device = pick_device()
    model = ckpt.build_model().to(device)
    max_len = int(ckpt.train_config.get("max_len", 50))
    scorer = ModelScorer(model, ckpt.config.num_items, ckpt.vocab.size, max_len, device)
    return evaluate(scorer, dataset.split, which, ties=ties)


def train_and_save(
    dataset: Dataset,
    cfg: Any,
    out: str | Path,
    report_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, save the checkpoint (and reports); returns every metric as plain data."""
    from models.report import markdown_table, plot_curves, write_json
    from models.train import train

    started = time.monotonic()
    split = dataset.split
    result = train(split, cfg, progress=progress)
    summary: dict[str, Any] = {
        "model": cfg.model,
        "protocol": split.protocol,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "train_seconds": round(result.seconds, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "valid": result.valid,
        "test": result.test,
        "cleaning": dataset.report.to_dict(),
        "config": cfg.to_dict(),
    }
    state = result.model.state_dict()
    config = result.model.config  # type: ignore[union-attr]
    ckpt: Checkpoint | AttentionCheckpoint
    metrics = {"valid": result.valid, "test": result.test}
    if cfg.model == "sasrec":
        ckpt = AttentionCheckpoint(config, state, split.data.vocab, metrics, cfg.to_dict())  # type: ignore[arg-type]
    else:
        ckpt = Checkpoint(config, state, split.data.vocab, metrics, cfg.to_dict())  # type: ignore[arg-type]
    summary["checkpoint"] = str(ckpt.save(out))
    if report_dir is not None:
        report = Path(report_dir)
        write_json({**summary, "history": result.history}, report / "metrics.json")
        plot_curves(result.history, report / "curves.png", title=f"{cfg.model} training")
        (report / "results.md").write_text(markdown_table({cfg.model: result.test}))
        summary["report_dir"] = str(report)
    return summary
