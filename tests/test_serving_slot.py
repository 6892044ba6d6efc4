"""The serving model's one owner: swaps return the replaced model and move the version gauge."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge

from streamrec.stream.serving.slot import ModelSlot

pytestmark = pytest.mark.unit


def _model(version: str) -> Any:
    return SimpleNamespace(version=version)


def test_swap_serves_the_new_model_and_moves_the_version_gauge() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("model", "serving version", ["version"], registry=registry)
    v1, v1_rows, v2 = _model("v1"), _model("v1"), _model("v2")
    slot = ModelSlot(v1, gauge)
    assert registry.get_sample_value("model", {"version": "v1"}) == 1
    assert slot.swap(v1_rows) is v1 and slot.model is v1_rows  # cold start: same version
    assert registry.get_sample_value("model", {"version": "v1"}) == 1
    assert slot.swap(v2) is v1_rows and slot.model is v2
    assert registry.get_sample_value("model", {"version": "v1"}) is None
    assert registry.get_sample_value("model", {"version": "v2"}) == 1
