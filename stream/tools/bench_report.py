"""Repeated bench runs -> one report: the median of every figure, and every run kept."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson


def _median(values: Sequence[Any]) -> Any:
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(nums) != len(values) or not nums:
        return values[0]  # not a figure (names, paths): the first run's
    return round(statistics.median(nums), 4)


def median_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Field by field median of the runs (nested dicts too); curves by offered rate."""
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [r.get(key) for r in runs]
        if key == "curve":
            out[key] = median_curve([v or [] for v in values])
        elif isinstance(values[0], dict):
            out[key] = median_of([v for v in values if isinstance(v, dict)])
        else:
            out[key] = _median(values)
    return out


def median_curve(curves: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One point per offered rate that every run reached, each field its median."""
    rates = sorted(set.intersection(*[{p["offered_eps"] for p in c} for c in curves]))
    by_rate = [{p["offered_eps"]: p for p in c} for c in curves]
    return [median_of([points[rate] for points in by_rate]) for rate in rates]


def write_report(runs: Sequence[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """``report.json`` (median and runs) and ``latency.png`` (the median curve) in ``out_dir``."""
    from streamrec.stream.tools.bench_latency import plot_curve

    median = median_of(runs)
    report: dict[str, Any] = {"repeats": len(runs), "median": median, "runs": list(runs)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    curve = median.get("curve") or []
    if curve:
        title = (
            f"one worker, {median['source']}; catalog {median['model']['catalog_rows']:,} rows "
            f"({median['model'].get('scored_rows', 0):,} scored); "
            f"median of {len(runs)}"
        )
        plot_curve(curve, title, out_dir / "latency.png")
    return report
