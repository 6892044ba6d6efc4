"""The GPU suite runs everywhere: CUDA against CPU where a GPU is usable, CPU alone otherwise."""

from __future__ import annotations

import orjson

from streamrec.export.gpu_suite import SuiteConfig, gpu_ratios, run_gpu_suite
from streamrec.models.inference import gpu_present


def test_gpu_suite_reports_every_cell_and_why_cuda_is_missing() -> None:
    cfg = SuiteConfig(catalogs=(500,), batches=(1, 8), iters=6, min_iters=2, cell_budget_s=0.5)
    result = run_gpu_suite(cfg)
    providers = {r["provider"] for r in result["rows"]}
    assert {(r["catalog"], r["batch"]) for r in result["rows"]} == {(500, 1), (500, 8)}
    assert all(r["events_per_s"] > 0 and r["p99_ms"] >= r["p50_ms"] for r in result["rows"])
    if gpu_present():
        assert providers == {"cpu", "cuda"} and result["cuda"] == "ok"
        assert len(result["ratios"]) == 2
    else:
        assert providers == {"cpu"} and result["cuda"] != "ok" and result["ratios"] == []
    orjson.dumps(result)  # one JSON file


def test_ratios_pair_the_providers_of_one_cell() -> None:
    rows = [
        {"catalog": 10, "batch": 1, "provider": "cpu", "events_per_s": 100.0},
        {"catalog": 10, "batch": 1, "provider": "cuda", "events_per_s": 450.0},
        {"catalog": 10, "batch": 8, "provider": "cpu", "events_per_s": 80.0},
    ]
    assert gpu_ratios(rows) == [{"catalog": 10, "batch": 1, "cuda_over_cpu": 4.5}]
