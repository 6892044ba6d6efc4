"""One table for next-item quality: baselines, checkpoints and the transition blend, one protocol.

Every row is measured by the same harness (:func:`~streamrec.models.training.evaluate.evaluate`:
full ranking, history items excluded), the baselines fitted on the events before the targets.
Where the data file is one with published results on the same protocol, those rows are shown
beside ours, marked as published.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamrec.models.data.loaders import Format
from streamrec.models.nets.checkpoint import Checkpoint, load_any
from streamrec.models.workflow import (
    Protocol,
    evaluate_baseline,
    evaluate_blend,
    evaluate_checkpoint,
    load_dataset,
)

COLUMNS = ("HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR@10")

# Published full-ranking results on the S3-Rec preprocessing of Amazon Beauty (S3-Rec paper,
# Zhou et al., CIKM 2020, as listed in ../shared/datasets/README.md; BSARec from its paper,
# HR@10/NDCG@10 only). Keyed by the file's name.
PUBLISHED: dict[str, list[tuple[str, dict[str, float]]]] = {
    "amazon_beauty_s3rec.txt": [
        ("PopRec", {"HR@5": 0.0080, "NDCG@5": 0.0044, "HR@10": 0.0152, "NDCG@10": 0.0068,
                    "HR@20": 0.0217, "NDCG@20": 0.0084}),
        ("GRU4Rec", {"HR@5": 0.0164, "NDCG@5": 0.0099, "HR@10": 0.0283, "NDCG@10": 0.0137,
                     "HR@20": 0.0479, "NDCG@20": 0.0187}),
        ("SASRec", {"HR@5": 0.0387, "NDCG@5": 0.0249, "HR@10": 0.0605, "NDCG@10": 0.0318,
                    "HR@20": 0.0902, "NDCG@20": 0.0394}),
        ("S3-Rec", {"HR@5": 0.0387, "NDCG@5": 0.0244, "HR@10": 0.0647, "NDCG@10": 0.0327,
                    "HR@20": 0.0994, "NDCG@20": 0.0414}),
        ("BSARec", {"HR@10": 0.1008, "NDCG@10": 0.0611}),
    ],
}  # fmt: skip


@dataclass
class QualityRow:
    """One line of the table."""

    name: str
    metrics: dict[str, float]
    wall_s: float | None = None  # evaluation (and fitting) time; None for published rows
    published: bool = False
    note: dict[str, Any] = field(default_factory=dict)


def quality_rows(
    data: str | Path,
    fmt: Format,
    checkpoints: dict[str, str | Path],
    protocol: Protocol | None = None,
    neighbours: bool = False,
    alphas: tuple[float, ...] | None = None,
    **load: Any,
) -> list[QualityRow]:
    """Every row of the table, ours first, then the published ones for a known file.

    Ours: popularity, co-occurrence, each checkpoint and, with ``neighbours``, each recurrent
    checkpoint blended with item-to-item transitions (alpha chosen on validation).
    """
    rows: list[QualityRow] = []
    t0 = time.monotonic()
    dataset = load_dataset(data, fmt, protocol, **load)
    for baseline, label in (("popularity", "popularity"), ("cooccurrence", "co-occurrence")):
        t = time.monotonic()
        found = evaluate_baseline(dataset, baseline)  # type: ignore[arg-type]
        rows.append(QualityRow(label, found, time.monotonic() - t))
    for name, path in checkpoints.items():
        t = time.monotonic()
        found = evaluate_checkpoint(path, data, fmt, protocol, **load)
        label = name
        if "blend_alpha" in found:  # served with its transitions: evaluated the same way
            label = f"{name} (served: + its transitions, alpha {found['blend_alpha']:g})"
        rows.append(QualityRow(label, found, time.monotonic() - t))
        if neighbours and isinstance(load_any(path), Checkpoint):  # recurrent: it has a step
            t = time.monotonic()
            blend = evaluate_blend(path, data, fmt, protocol, alphas, **load)
            note = {"alpha": blend["alpha"], "valid_NDCG@10": blend["valid_NDCG@10"]}
            label = f"{name} + transitions (alpha {blend['alpha']:g})"
            rows.append(QualityRow(label, blend, time.monotonic() - t, note=note))
    for name, metrics in PUBLISHED.get(Path(data).name, []):
        rows.append(QualityRow(name, metrics, published=True))
    rows[0].note["total_s"] = time.monotonic() - t0
    return rows


def format_table(rows: list[QualityRow]) -> str:
    """A Markdown table: every column, the wall time, published rows marked."""
    head = "| model | " + " | ".join(COLUMNS) + " | evaluation time |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for row in rows:
        cells = [f"{row.metrics[c]:.4f}" if c in row.metrics else "—" for c in COLUMNS]
        name = f"{row.name} (published)" if row.published else row.name
        wall = "—" if row.wall_s is None else f"{row.wall_s:.0f} s"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {wall} |")
    return "\n".join(lines)


def to_dict(rows: list[QualityRow]) -> list[dict[str, Any]]:
    """Plain data (``--json``)."""
    return [
        {
            "name": r.name,
            "published": r.published,
            "wall_s": r.wall_s,
            **{c: r.metrics[c] for c in COLUMNS if c in r.metrics},
            **r.note,
        }
        for r in rows
    ]
