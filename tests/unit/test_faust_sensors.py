"""Faust's Prometheus sensors are the app's monitor and share the worker's /metrics registry,
unless STREAMREC_FAUST_METRICS turns them off."""

from __future__ import annotations

from pathlib import Path

import pytest
from faust.sensors.prometheus import PrometheusMonitor

from streamrec.stream.config.settings import Settings
from streamrec.stream.worker.app import create_app
from streamrec.stream.worker.serve import load_model

pytestmark = pytest.mark.unit


def _app_page(tmp_path: Path, bundle: Path, faust_metrics: bool) -> tuple[object, str]:
    settings = Settings(
        bundle=bundle, data_dir=tmp_path, app_id="sensors", faust_metrics=faust_metrics
    )
    built = create_app(settings, load_model(settings), partitions=2)
    return built.app.monitor, built.metrics.exposition().decode()


def test_faust_sensors_share_the_workers_registry(tiny_bundle: Path, tmp_path: Path) -> None:
    monitor, page = _app_page(tmp_path, tiny_bundle, faust_metrics=True)
    assert isinstance(monitor, PrometheusMonitor)
    assert "# TYPE faust_messages_received_total counter" in page
    assert "# TYPE faust_consumer_commit_latency histogram" in page
    assert "# TYPE streamrec_events_total counter" in page


def test_faust_sensors_can_be_turned_off(tiny_bundle: Path, tmp_path: Path) -> None:
    monitor, page = _app_page(tmp_path, tiny_bundle, faust_metrics=False)
    assert not isinstance(monitor, PrometheusMonitor)
    assert "faust_" not in page and "streamrec_events_total" in page


def test_per_message_families_are_read_from_the_monitor_at_scrape() -> None:
    from faust.types import TP, Message
    from prometheus_client import CollectorRegistry, generate_latest

    from streamrec.stream.worker.sensors import faust_sensors

    registry = CollectorRegistry()
    monitor = faust_sensors(registry).monitor
    messages = [Message("ev", 1, n, 0.0, 0, None, b"k", b"v", None) for n in (5, 6, 7)]
    for message in messages:
        monitor.on_message_in(message.tp, message.offset, message)
    for message in messages[:2]:
        monitor.on_message_out(message.tp, message.offset, message)
    lines = set(generate_latest(registry).decode().splitlines())
    assert "faust_messages_received_total 3.0" in lines
    assert "faust_active_messages 1.0" in lines
    assert 'faust_messages_received_per_topic_total{topic="ev"} 3.0' in lines
    assert 'faust_messages_received_per_topics_partition{partition="1",topic="ev"} 7.0' in lines
    assert monitor.tp_read_offsets == {TP("ev", 1): 7}
