"""Multi-process tier: the scale scenario, short. One worker, then three, then two, under a
steady load on the 3-broker cluster, scraped by a real Prometheus (Debian's package): through its
HTTP API the handled rate of each phase matches the load, every worker was seen, the applied
events it counted add up to those sent, and the chaos verifier finds nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.chaos import run_chaos_cli

pytestmark = pytest.mark.slow


def test_prometheus_sees_what_the_workers_did_as_they_scale(tmp_path: Path) -> None:
    args = ["--scenario", "scale", "--rate", "40", "--phase-seconds", "25", "--users", "60"]
    result = run_chaos_cli(args, tmp_path)
    assert [p["workers"] for p in result["phases"]] == [1, 3, 2]
    assert result["instances_seen"] == 3, result
    for phase in result["phases"]:
        assert phase["handled_rate"] == pytest.approx(40, rel=0.15), result["phases"]
    assert result["applied_sent"] > 0
    assert result["applied_sent"] - result["removed_slack"] <= result["applied_seen"]
    assert result["applied_seen"] <= result["applied_sent"]
    verdict = result["verdict"]
    assert verdict["lost"] == 0 and verdict["double_applied"] == 0, verdict["problems"]
    assert verdict["unanswered"] == 0 and verdict["restore_mismatches"] == 0, verdict["problems"]
    assert result["ok"] and result["exit_code"] == 0
