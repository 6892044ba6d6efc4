"""What ``streamrec train`` and ``streamrec evaluate`` do, as functions the CLI and tests call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from streamrec.models.data.cleaning import CleaningReport, TsUnit
from streamrec.models.data.events import Event
from streamrec.models.data.loaders import ColumnMap, Format, load_events
from streamrec.models.data.sequences import Split, build_sequences, leave_one_out, time_split
from streamrec.models.data.vocab import Vocabulary
from streamrec.models.nets.checkpoint import AttentionCheckpoint, Checkpoint, load_any
from streamrec.models.text.train import TextOptions
from streamrec.models.training.metrics import Ties

log = logging.getLogger(__name__)

Protocol = Literal["loo", "time"]
Baseline = Literal["popularity", "cooccurrence", "text"]


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
    dataset: Dataset,
    baseline: Baseline,
    which: str = "test",
    ties: Ties = "index",
    catalog: str | Path | None = None,
    encoder_dir: Path | None = None,
) -> dict[str, float]:
    """Metrics of a baseline fitted on the events before the ``which`` targets.

    ``text`` needs ``catalog``: items score by the cosine of their text embedding to the
    user's latest items' (no training at all).
    """
    from streamrec.models.training.baselines import CooccurrenceScorer, PopularityScorer
    from streamrec.models.training.evaluate import evaluate
    from streamrec.models.training.histories import Scorer

    split = dataset.split
    scorer: Scorer
    if baseline == "text":
        from streamrec.models.text.train import catalog_text
        from streamrec.models.training.cold_start import TextSimilarityScorer

        if catalog is None:
            raise ValueError("the text baseline needs --catalog")
        text = catalog_text(split.data.vocab, Path(catalog), encoder_dir)
        scorer = TextSimilarityScorer(text)
    elif baseline == "popularity":
        scorer = PopularityScorer(split, which)
    else:
        scorer = CooccurrenceScorer(split, which)
    return evaluate(scorer, split, which, ties=ties)


def evaluate_checkpoint(
    path: str | Path,
    data: str | Path,
    fmt: Format,
    protocol: Protocol | None = None,
    which: str = "test",
    ties: Ties = "index",
    catalog: str | Path | None = None,
    encoder_dir: Path | None = None,
    **load: Any,
) -> dict[str, float]:
    """Metrics of a trained checkpoint; the data is indexed with the checkpoint's vocabulary.

    With ``catalog`` (a checkpoint trained with item text), items of the data the checkpoint
    never saw get rows from their text first, as the worker gives announced items. A checkpoint
    with a transition blend is scored as its step serves it: its weight and table shape, the
    table counted on the events before the targets (``blend_alpha`` in the result).
    """
    from streamrec.models.nets.scoring import ModelScorer
    from streamrec.models.training.evaluate import evaluate
    from streamrec.models.training.train import pick_device

    ckpt = load_any(path)
    vocab, model, extra = ckpt.vocab, ckpt.build_model(), {}
    if catalog is not None:
        from streamrec.models.data.catalog import load_catalog
        from streamrec.models.data.loaders import load_events
        from streamrec.models.text.rows import add_text_rows

        if not isinstance(ckpt, Checkpoint):
            raise ValueError("--catalog needs a recurrent checkpoint trained with --catalog")
        events, _ = load_events(data, fmt, **_event_kwargs(load))
        texts = {r.item_id: r.text() for r in load_catalog(catalog)}
        rows = add_text_rows(ckpt, (e.item_id for e in events), texts, encoder_dir)
        vocab, model = rows.vocab, rows.model
        extra = {
            "new_items_with_text": float(len(rows.added)),
            "new_items_no_room": float(rows.skipped_full),
        }
    dataset = load_dataset(data, fmt, protocol, vocab=vocab, **load)
    device = pick_device()
    model = model.to(device)
    max_len = int(ckpt.train_config.get("max_len", 50))
    scorer: Any = ModelScorer(model, ckpt.config.num_items, vocab.size, max_len, device)
    if isinstance(ckpt, Checkpoint) and ckpt.blend is not None:
        from streamrec.models.training.blend import BlendedScorer, fit_table

        t = ckpt.blend.table
        table = fit_table(dataset.split, which, vocab.size, t.width, t.recent, t.decay)
        scorer = BlendedScorer(scorer, table, ckpt.blend.alpha)
        extra["blend_alpha"] = ckpt.blend.alpha
    return {**evaluate(scorer, dataset.split, which, ties=ties), **extra}


def evaluate_blend(
    path: str | Path,
    data: str | Path,
    fmt: Format,
    protocol: Protocol | None = None,
    alphas: tuple[float, ...] | None = None,
    width: int = 64,
    save: str | Path | None = None,
    **load: Any,
) -> dict[str, Any]:
    """A checkpoint's scores plus item-to-item transitions (see models.training.blend).

    The weight is chosen on the validation targets; the test figures are at that weight.
    Returns the test metrics, ``alpha`` and the validation NDCG@10 of every weight tried.
    With ``save``, writes the checkpoint there with the blend (the table counted on every
    event before the test targets), which export puts into the step graph.
    """
    from dataclasses import replace

    from streamrec.models.training.blend import ALPHAS, choose_blend

    scorer, dataset = _checkpoint_scorer(path, data, fmt, protocol, **load)
    rows = dataset.split.data.vocab.size
    choice = choose_blend(scorer, dataset.split, rows, alphas or ALPHAS, width)
    valid = {str(a): round(m["NDCG@10"], 4) for a, m in choice.valid.items()}
    out = {**choice.test, "alpha": choice.alpha, "width": width, "valid_NDCG@10": valid}
    if save is not None:
        ckpt = Checkpoint.load(path)
        metrics = {**ckpt.metrics, "blend": {"alpha": choice.alpha, "test": choice.test}}
        out["saved"] = str(replace(ckpt, blend=choice.blend(), metrics=metrics).save(save))
    return out


def evaluate_buys(
    path: str | Path,
    data: str | Path,
    fmt: Format,
    protocol: Protocol | None = None,
    report_dir: str | Path | None = None,
    **load: Any,
) -> dict[str, Any]:
    """The checkpoint's buy head against the base rate and a funnel heuristic.

    See :mod:`streamrec.models.training.buy_eval`; with ``report_dir`` also writes
    ``buy.json`` and ``calibration.png`` there.
    """
    from streamrec.models.training.buy_eval import buy_report, plot_calibration
    from streamrec.models.training.report import write_json

    scorer, dataset = _checkpoint_scorer(path, data, fmt, protocol, **load)
    report = buy_report(scorer, dataset.split, name="buy head")
    if report_dir is not None:
        write_json(report, Path(report_dir) / "buy.json")
        plot_calibration(report, Path(report_dir) / "calibration.png")
    return report


def _checkpoint_scorer(
    path: str | Path, data: str | Path, fmt: Format, protocol: Protocol | None, **load: Any
) -> tuple[Any, Dataset]:
    """A checkpoint's evaluation scorer and the data set indexed with its vocabulary."""
    from streamrec.models.nets.scoring import ModelScorer
    from streamrec.models.training.train import pick_device

    ckpt = load_any(path)
    vocab, model = ckpt.vocab, ckpt.build_model()
    dataset = load_dataset(data, fmt, protocol, vocab=vocab, **load)
    device = pick_device()
    max_len = int(ckpt.train_config.get("max_len", 50))
    scorer = ModelScorer(model.to(device), ckpt.config.num_items, vocab.size, max_len, device)
    return scorer, dataset


def _event_kwargs(load: dict[str, Any]) -> dict[str, Any]:
    keys = ("columns", "ts_unit", "k_core", "buys")
    return {k: v for k, v in load.items() if k in keys}


@dataclass(frozen=True)
class BlendOptions:
    """``streamrec train``'s transition blend: the weights to try and followers per item."""

    alphas: tuple[float, ...]
    width: int = 64


def train_and_save(
    dataset: Dataset,
    cfg: Any,
    out: str | Path,
    report_dir: str | Path | None = None,
    progress: bool = True,
    text: TextOptions | None = None,
    blend: BlendOptions | None = None,
) -> dict[str, Any]:
    """Train, save the checkpoint (and reports); returns every metric as plain data.

    With ``blend`` (recurrent models) the checkpoint also gets item-to-item transitions with
    the weight chosen on the validation targets (``summary["blend"]``: the served figures).

    With ``text`` the recurrent model is trained with item text
    (:mod:`streamrec.models.text.train`); the checkpoint holds the fused item table and the text
    projection for serving.
    """
    from streamrec.models.text.fusion import TextFusedRecommender, materialize, text_side
    from streamrec.models.text.train import catalog_text, train_with_text
    from streamrec.models.training.report import markdown_table, plot_curves, write_json
    from streamrec.models.training.train import train

    started = time.monotonic()
    split = dataset.split
    if text is None:
        result = train(split, cfg, progress=progress)
    else:
        matrix = catalog_text(split.data.vocab, text.catalog, text.encoder_dir)
        result = train_with_text(
            split,
            cfg,
            matrix,
            text.fusion,
            progress=progress,
            id_dropout=text.id_dropout,
            text_loss=text.text_loss,
        )
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
    side = None
    if isinstance(result.model, TextFusedRecommender):
        side = text_side(result.model)
        result.model = materialize(result.model)
        covered = int((result.model.item_embedding.weight.abs().sum(1) > 0).sum())
        summary["text"] = {**(text.to_dict() if text else {}), "item_rows_nonzero": covered}
    state = result.model.state_dict()
    config = result.model.config  # type: ignore[union-attr]
    ckpt: Checkpoint | AttentionCheckpoint
    metrics = {"valid": result.valid, "test": result.test}
    if cfg.model == "sasrec":
        ckpt = AttentionCheckpoint(config, state, split.data.vocab, metrics, cfg.to_dict())  # type: ignore[arg-type]
    else:
        ckpt = Checkpoint(config, state, split.data.vocab, metrics, cfg.to_dict(), side)  # type: ignore[arg-type]
        if blend is not None:
            from streamrec.models.training.blend import choose_for_model

            choice = choose_for_model(
                result.model,  # type: ignore[arg-type]
                split,
                cfg.max_len,
                blend.alphas,
                blend.width,
            )
            ckpt.blend = choice.blend()
            valid = {str(a): round(m["NDCG@10"], 4) for a, m in choice.valid.items()}
            summary["blend"] = {"alpha": choice.alpha, "valid_NDCG@10": valid, "test": choice.test}
            ckpt.metrics = {**metrics, "blend": {"alpha": choice.alpha, "test": choice.test}}
    summary["checkpoint"] = str(ckpt.save(out))
    if report_dir is not None:
        report = Path(report_dir)
        write_json({**summary, "history": result.history}, report / "metrics.json")
        plot_curves(result.history, report / "curves.png", title=f"{cfg.model} training")
        (report / "results.md").write_text(markdown_table({cfg.model: result.test}))
        summary["report_dir"] = str(report)
    return summary
