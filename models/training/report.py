"""Training and evaluation outputs: metrics JSON, training-curve PNG, markdown results table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

# Published full-ranking results on amazon_beauty_s3rec.txt (S3-Rec paper, CIKM 2020).
PUBLISHED_BEAUTY: dict[str, dict[str, float]] = {
    "PopRec (published)": {"HR@5": 0.0080, "NDCG@5": 0.0044, "HR@10": 0.0152, "NDCG@10": 0.0068,
                           "HR@20": 0.0217, "NDCG@20": 0.0084},
    "GRU4Rec (published)": {"HR@5": 0.0164, "NDCG@5": 0.0099, "HR@10": 0.0283, "NDCG@10": 0.0137,
                            "HR@20": 0.0479, "NDCG@20": 0.0187},
    "Caser (published)": {"HR@5": 0.0205, "NDCG@5": 0.0131, "HR@10": 0.0347, "NDCG@10": 0.0176,
                          "HR@20": 0.0556, "NDCG@20": 0.0229},
    "SASRec (published)": {"HR@5": 0.0387, "NDCG@5": 0.0249, "HR@10": 0.0605, "NDCG@10": 0.0318,
                           "HR@20": 0.0902, "NDCG@20": 0.0394},
    "BERT4Rec (published)": {"HR@5": 0.0203, "NDCG@5": 0.0124, "HR@10": 0.0347,
                             "NDCG@10": 0.0170, "HR@20": 0.0599, "NDCG@20": 0.0233},
    "S3-Rec (published)": {"HR@5": 0.0387, "NDCG@5": 0.0244, "HR@10": 0.0647, "NDCG@10": 0.0327,
                           "HR@20": 0.0994, "NDCG@20": 0.0414},
}  # fmt: skip
TABLE_COLUMNS = ("HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20")


def _clean(value: Any) -> Any:
    """NaN/inf become null so the JSON stays valid for every reader."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(data: Mapping[str, Any]) -> str:
    """One-line JSON (NaN as null), as printed by ``streamrec evaluate --json``."""
    return orjson.dumps(_clean(dict(data)), option=orjson.OPT_SERIALIZE_NUMPY).decode()


def write_json(data: Mapping[str, Any], path: str | Path) -> Path:
    """Indented JSON file of ``data``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        orjson.dumps(_clean(dict(data)), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    return path


def plot_curves(history: Sequence[Mapping[str, float]], path: str | Path, title: str = "") -> Path:
    """PNG with training loss and validation HR@10/NDCG@10 per epoch (headless Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [h["loss"] for h in history], marker=".")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_title("loss")
    for key in ("HR@10", "NDCG@10", "HR@20", "NDCG@20"):
        if history and key in history[0]:
            ax2.plot(epochs, [h[key] for h in history], marker=".", label=key)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation")
    ax2.set_title("validation metrics")
    ax2.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown_table(
    results: Mapping[str, Mapping[str, float]],
    published: Mapping[str, Mapping[str, float]] | None = None,
    columns: Sequence[str] = TABLE_COLUMNS,
) -> str:
    """Markdown table of our ``results`` rows, followed by the ``published`` rows."""
    rows = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for source in (results, published or {}):
        for name, metrics in source.items():
            cells = [f"{metrics[c]:.4f}" if c in metrics else "" for c in columns]
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
