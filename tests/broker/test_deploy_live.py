"""The deploy files against a running worker: every metric the alert rules and the dashboard read
is on its ``/metrics``, and the probe paths of the Kubernetes manifests answer 200."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from tests.support.deploy import DEPLOY, alert_exprs, dashboard_exprs, manifests, metric_names
from tests.support.kafka import Broker, free_port, unique_name
from tests.support.stream import (
    Worker,
    event_json,
    produce,
    read_topic,
    wait_until,
    worker_settings,
)

EXPOSED_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def exposed_names(body: str) -> set[str]:
    """Series names of a /metrics page, families without samples included (from # TYPE)."""
    names = set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            names.add(family)
            names.update(family + s for s in EXPOSED_SUFFIXES.get(kind, ()))
        elif line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names


def test_rules_dashboard_and_probes_match_a_live_worker(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = worker_settings(tmp_path, tiny_bundle, models_topic=unique_name("models"))
    worker = Worker(broker.bootstrap, tmp_path / "worker.log", free_port(), **s)
    worker.start()
    try:
        worker.wait_ready()
        produce(broker.bootstrap, str(s["events_topic"]), [(b"u1", event_json("u1", "i1"))])
        read_topic(broker.bootstrap, str(s["recommendations_topic"]), 1)
        status, body = worker.get("/metrics")
        assert status == 200
        live = exposed_names(body.decode()) | {"up"}  # up: Prometheus's own series
        used = [
            (w, e) for w, e in [*alert_exprs(), *dashboard_exprs()] if "streamrec_trainer_" not in e
        ]
        missing = {(where, n) for where, e in used for n in metric_names(e) if n not in live}
        assert not missing, f"not on a live worker's /metrics: {sorted(missing)}"

        # Faust's sensors see the batch path: the record taken in, then acknowledged.
        events = str(s["events_topic"])
        wait_until(lambda: worker.metric("faust_messages_received_total") >= 1, 10, what="in")
        wait_until(lambda: worker.metric("faust_active_messages") == 0, 10, what="acked")
        per_topic = worker.samples("faust_messages_received_per_topic_total")
        assert per_topic == {f'{{topic="{events}"}}': 1.0}, per_topic
        ends = worker.samples("faust_topic_partition_end_offset")
        assert sum(v for k, v in ends.items() if f'topic="{events}"' in k) == 1.0, ends

        (sts,) = [d for d in manifests(DEPLOY / "k8s") if d["kind"] == "StatefulSet"]
        (container,) = sts["spec"]["template"]["spec"]["containers"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = container[probe]["httpGet"]["path"]
            assert worker.get(path)[0] == 200, path
    finally:
        worker.stop()


def test_trainer_metrics_in_rules_and_dashboard_are_on_a_live_trainer() -> None:
    from streamrec.stream.trainer.metrics import TrainerMetrics, TrainerStatus
    from streamrec.stream.trainer.web import TrainerWeb

    web = TrainerWeb("127.0.0.1", 0, TrainerMetrics(), TrainerStatus(), 60.0).start()
    try:
        url = f"http://127.0.0.1:{web.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            live = exposed_names(resp.read().decode()) | {"up"}
    finally:
        web.close()
    used = [*alert_exprs(), *dashboard_exprs()]
    trainer = {(w, n) for w, e in used for n in metric_names(e) if "trainer" in n}
    assert trainer, "no rule or panel reads the trainer"
    assert not {(w, n) for w, n in trainer if n not in live}


def test_exposed_names_reads_families_without_samples() -> None:
    page = (
        "# HELP a_total x\n# TYPE a counter\n"
        '# TYPE h histogram\nh_bucket{le="1"} 0\n# TYPE g gauge\ng 1\n'
    )
    assert exposed_names(page) == {"a", "a_total", "h", "h_bucket", "h_sum", "h_count", "g"}
