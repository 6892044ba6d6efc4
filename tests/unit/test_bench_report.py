"""Repeated bench runs report the median of every figure; curves are joined by offered rate."""

from __future__ import annotations

from pathlib import Path

import orjson

from streamrec.stream.tools.bench_report import median_curve, median_of, write_report


def _run(eps: float, p99: float, rates: tuple[float, ...]) -> dict[str, object]:
    curve = [{"offered_eps": r, "p50_ms": p99 / 4, "p95_ms": p99 / 2, "p99_ms": p99} for r in rates]
    return {
        "source": "replay",
        "sustained_eps": eps,
        "time_split": {"worker_cpu_ms_per_event": eps / 10_000},
        "model": {"catalog_rows": 1000},
        "curve": curve,
    }


def test_median_of_runs_field_by_field() -> None:
    runs = [_run(3000, 30, (250, 500)), _run(4000, 10, (250, 500, 1000)), _run(3500, 20, (250,))]
    m = median_of(runs)
    assert m["sustained_eps"] == 3500 and m["source"] == "replay"
    assert m["time_split"]["worker_cpu_ms_per_event"] == 0.35
    assert [p["offered_eps"] for p in m["curve"]] == [250]  # only the rates every run reached
    assert m["curve"][0]["p99_ms"] == 20


def test_median_curve_and_report_files(tmp_path: Path) -> None:
    curves = [_run(1, 8, (250, 500))["curve"], _run(1, 4, (250, 500))["curve"]]
    assert [p["p99_ms"] for p in median_curve(curves)] == [6, 6]  # type: ignore[arg-type]
    runs = [_run(3000, 30, (250, 500)), _run(4000, 10, (250, 500))]
    report = write_report(runs, tmp_path / "out")
    saved = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    assert saved["repeats"] == 2 and len(saved["runs"]) == 2
    assert saved["median"] == report["median"] and report["median"]["sustained_eps"] == 3500
    assert (tmp_path / "out" / "latency.png").stat().st_size > 1000


def test_the_load_generator_reads_event_numbers_of_its_own_prefix_only() -> None:
    from streamrec.stream.tools.loadgen import event_number

    rec = b'{"user_id":"u","items":[],"event_id":"c250-17","replayed":false}'
    assert event_number(rec, b"c250-") == 17
    assert event_number(rec, b"c500-") is None
    assert event_number(rec.replace(b'"c250-17"', b"null"), b"c250-") is None
    assert event_number(rec.replace(b"17", b"1x"), b"c250-") is None
    assert event_number(b'{"event_id":"c250-', b"c250-") is None


def test_machine_busy_share_sees_this_process_burn_a_core() -> None:
    import os
    import time

    from streamrec.stream.tools.bench_latency import busy_share, machine_cpu

    before = machine_cpu()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # one core fully busy for 0.3 s of CPU
        pass
    share = busy_share(before, machine_cpu())
    cores = os.cpu_count() or 1  # /proc/stat counts every core of the machine
    assert 0.5 / cores <= share <= 1.0
    assert busy_share(before, before) != busy_share(before, before)  # nan: no time passed
