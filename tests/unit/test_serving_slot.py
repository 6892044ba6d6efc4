"""The serving model's one owner: swaps return the replaced model and move the version gauge."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from streamrec.stream.serving.slot import ModelSlot


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


def test_worker_metric_sums_one_sample_name_over_labels() -> None:
    from prometheus_client import Counter, start_http_server

    from streamrec.stream.tools.clients import worker_metric
    from tests.support.kafka import free_port

    registry = CollectorRegistry()
    sent = Counter("streamrec_dead_letters", "letters", ["reason"], registry=registry)
    sent.labels("a").inc(2)
    sent.labels("b").inc(3)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        assert worker_metric(port, "streamrec_dead_letters_total") == 5.0
        assert worker_metric(port, "streamrec_nothing_total") == 0.0
    finally:
        server.shutdown()
        thread.join()
    assert worker_metric(port, "streamrec_dead_letters_total") == 0.0  # unreachable
