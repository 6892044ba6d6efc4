"""The files under deploy/ agree with the code: every setting they set exists, ports and probe
paths are the worker's, labels and selectors match, Prometheus accepts the configs and the rules
fire as their unit tests say, every metric a rule or panel reads is one the worker registers.
(A live worker's ``/metrics`` is compared in tests/broker/test_deploy_live.py.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamrec.stream.config.reference import setting_rows
from streamrec.stream.config.settings import Settings
from streamrec.stream.config.trainer_settings import TrainerSettings
from streamrec.stream.tools import metrics_reference
from tests.support.deploy import (
    DASHBOARD,
    DEPLOY,
    PROMETHEUS_DIR,
    REPO,
    alert_exprs,
    dashboard_exprs,
    manifests,
    metric_names,
    promtool,
)

WORKER_ENV = {r.env for r in setting_rows(Settings)}
TRAINER_ENV = {r.env for r in setting_rows(TrainerSettings)}
SECRET_ENV = {
    r.env for r in [*setting_rows(Settings), *setting_rows(TrainerSettings)] if r.kind == "secret"
}
WEB_SOURCE = (REPO / "stream" / "worker" / "web.py").read_text()
WORKER_PATHS = set(re.findall(r'@app\.page\("([^"]+)"\)', WEB_SOURCE))
TRAINER_PORT = TrainerSettings.model_fields["web_port"].default
TRAINER_SOURCE = (REPO / "stream" / "trainer" / "web.py").read_text()
TRAINER_PATHS = set(re.findall(r'self\.path == "([^"]+)"', TRAINER_SOURCE))
SERIES_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def process_metric_names() -> set[str]:
    """Every series name a worker or the trainer can expose, from the registries they serve."""
    registry, _ = metrics_reference.process_metrics()
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SERIES_SUFFIXES)
    return names


# --- Prometheus -------------------------------------------------------------------------------
@pytest.mark.parametrize("config", ["prometheus.yml", "kubernetes.yml"])
def test_promtool_accepts_each_scrape_config(config: str) -> None:
    done = subprocess.run(
        [promtool(), "check", "config", config],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run(
            [promtool(), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_named_in_the_issue_exists_and_is_unit_tested() -> None:
    alerts = dict(alert_exprs())
    for wanted in (
        "StreamrecWorkerDown",
        "StreamrecLagGrowing",
        "StreamrecDeadLetters",
        "StreamrecModelRefused",
        "StreamrecSendFailed",
    ):
        assert wanted in alerts
    tested = (PROMETHEUS_DIR / "alerts.test.yml").read_text()
    untested = [a for a in alerts if f"alertname: {a}\n" not in tested]
    assert not untested, f"alerts without a promtool unit test: {untested}"


def test_rules_and_dashboard_read_only_metrics_the_worker_registers() -> None:
    known = process_metric_names() | {"up"}  # up: Prometheus's own per-target series
    used = [*alert_exprs(), *dashboard_exprs()]
    assert len(used) > 20
    unknown = {(where, n) for where, expr in used for n in metric_names(expr) if n not in known}
    assert not unknown, f"names no worker exports: {sorted(unknown)}"


def test_the_metric_name_reader_finds_names_and_skips_functions_and_labels() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, instance) (rate(x_bucket{job="a b"}[5m]))) > 0.5 '
        "and on (instance) y_total offset 5m"
    )
    assert metric_names(expr) == {"x_bucket", "y_total"}


def test_scrape_targets_are_the_compose_workers_on_the_worker_port() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    job, trainer_job = config["scrape_configs"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert trainer_job["static_configs"][0]["targets"] == [f"trainer:{TRAINER_PORT}"]
    compose = _compose()
    workers = {name for name, svc in compose["services"].items() if name.startswith("worker-")}
    assert targets == {f"{w}:{Settings().web_port}" for w in workers}
    k8s = yaml.safe_load((PROMETHEUS_DIR / "kubernetes.yml").read_text())
    for job, (service_name, port) in zip(
        k8s["scrape_configs"],
        [
            ("streamrec-workers", Settings().web_port),
            ("streamrec-trainer", TRAINER_PORT),
        ],
        strict=True,
    ):
        (sd,) = job["dns_sd_configs"]
        service = _by_kind("Service", service_name)
        assert sd["names"][0].startswith(f"{service['metadata']['name']}.")
        assert sd["port"] == port == service["spec"]["ports"][0]["port"]


# --- Kubernetes -------------------------------------------------------------------------------
def _k8s() -> list[dict[str, Any]]:
    return manifests(DEPLOY / "k8s")


def _by_kind(kind: str, name: str) -> dict[str, Any]:
    for doc in _k8s():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")}
    assert set(kustomization["resources"]) == files - {"kustomization.yaml", "secret.example.yaml"}


def test_every_variable_the_manifests_set_is_a_setting_of_the_process_that_reads_it() -> None:
    config = _by_kind("ConfigMap", "streamrec")["data"]
    secrets = {
        k
        for doc in _k8s()
        if doc["kind"] == "Secret" and doc["metadata"]["name"] == "streamrec"
        for k in doc["stringData"]
    }
    worker, trainer = (
        _by_kind("StatefulSet", "streamrec-worker"),
        _by_kind("Deployment", "streamrec-trainer"),
    )
    assert set(config) <= WORKER_ENV | TRAINER_ENV
    assert secrets <= SECRET_ENV | {"STREAMREC_KAFKA_SASL_USERNAME"}, "non-secrets: ConfigMap"
    assert set(config).isdisjoint(SECRET_ENV), "secrets belong in the Secret"
    for workload, known in ((worker, WORKER_ENV), (trainer, TRAINER_ENV)):
        own = set(_env(_container(workload))) - {"POD_NAME"}
        assert own <= known, own - known
        refs = {next(iter(ref.values()))["name"] for ref in _container(workload)["envFrom"]}
        assert refs == {"streamrec"}


def test_the_worker_pod_matches_the_worker_process() -> None:
    sts = _by_kind("StatefulSet", "streamrec-worker")
    container, env = _container(sts), _env(_container(sts))
    port = int(env["STREAMREC_WEB_PORT"])
    (http,) = container["ports"]
    assert http["containerPort"] == port == Settings().web_port
    assert sts["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert env["STREAMREC_WEB_HOST"] == "0.0.0.0"
    for probe, path in (
        ("startupProbe", "/health"),
        ("livenessProbe", "/health"),
        ("readinessProbe", "/ready"),
    ):
        assert container[probe]["httpGet"]["path"] == path and path in WORKER_PATHS
        assert container[probe]["httpGet"]["port"] == http["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert mounts[claim["metadata"]["name"]] == env["STREAMREC_DATA_DIR"]
    ca = _by_kind("ConfigMap", "streamrec")["data"]["STREAMREC_KAFKA_SSL_CAFILE"]
    assert Path(ca).parent == Path(mounts["kafka-ca"])
    # Each pod advertises its stable name under the headless Service (table routing).
    service = _by_kind("Service", "streamrec-workers")
    assert service["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert env["STREAMREC_WEB_ADVERTISED_URL"] == (
        f"http://$(POD_NAME).{service['metadata']['name']}:{port}"
    )
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_trainer_pod_matches_the_trainer_process() -> None:
    deployment = _by_kind("Deployment", "streamrec-trainer")
    container, env = _container(deployment), _env(_container(deployment))
    (http,) = container["ports"]
    assert (
        http["containerPort"]
        == int(env["STREAMREC_WEB_PORT"])
        == TrainerSettings.model_fields["web_port"].default
    )
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(http["containerPort"])
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        assert container[probe]["httpGet"]["path"] == path and path in TRAINER_PATHS
    assert "/metrics" in TRAINER_PATHS
    service = _by_kind("Service", "streamrec-trainer")
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_services_and_the_budget_select_the_worker_pods() -> None:
    labels = _by_kind("StatefulSet", "streamrec-worker")["spec"]["template"]["metadata"]["labels"]
    for name in ("streamrec-workers", "streamrec"):
        assert _by_kind("Service", name)["spec"]["selector"] == labels
    pdb = _by_kind("PodDisruptionBudget", "streamrec-workers")
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    assert pdb["spec"]["maxUnavailable"] == 1


def test_the_configmap_makes_a_valid_worker_and_trainer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    config = dict(_by_kind("ConfigMap", "streamrec")["data"])
    config["STREAMREC_KAFKA_SSL_CAFILE"] = str(ca)  # the mounted file, here
    secret = next(
        d for d in _k8s() if d["kind"] == "Secret" and d["metadata"]["name"] == "streamrec"
    )
    for key, value in {**config, **secret["stringData"]}.items():
        monkeypatch.setenv(key, value)
    assert Settings().kafka.uses_sasl and TrainerSettings().kafka.uses_tls


# --- compose ----------------------------------------------------------------------------------
def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())


def test_compose_services_set_only_real_settings_and_mount_existing_files() -> None:
    compose = _compose()
    services = compose["services"]
    for name, svc in services.items():
        if name.startswith("worker-"):
            env = svc["environment"]
            assert set(env) <= WORKER_ENV, set(env) - WORKER_ENV
            assert (
                env["STREAMREC_WEB_ADVERTISED_URL"] == f"http://{name}:{env['STREAMREC_WEB_PORT']}"
            )
            assert svc["hostname"] == name
        elif name == "trainer":
            assert set(svc["environment"]) <= TRAINER_ENV
            assert svc["command"] == ["trainer"]
    folder = DEPLOY / "compose"
    for svc in services.values():
        for volume in svc.get("volumes", []):
            name = volume.split(":")[0]
            if not name.startswith("."):
                assert name in compose["volumes"], volume  # a named volume
                continue
            source = (folder / name).resolve()
            if source.is_relative_to(DEPLOY):  # (the model files are the user's)
                assert source.exists(), volume
        build = svc.get("build")
        if build:
            assert (folder / build["context"] / build["dockerfile"]).is_file()
    assert sum(1 for n in services if n.startswith("worker-")) >= 2
    assert {"kafka", "trainer", "prometheus", "grafana"} <= set(services)


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    compose = _compose()["services"]["grafana"]["volumes"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in compose}
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "streamrec.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert (DEPLOY / "compose" / mounted[path] / DASHBOARD.name).is_file()
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    dashboard_sources = {
        t["datasource"]["uid"] for t in __import__("json").loads(DASHBOARD.read_text())["panels"]
    }
    assert dashboard_sources == {source["uid"]}


# --- image ------------------------------------------------------------------------------------
def test_the_image_installs_serve_extras_runs_as_a_user_and_keeps_state_on_its_volume() -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert "ARG EXTRAS=serve" in text and '".[${EXTRAS}]"' in text
    assert re.search(r"^USER 10001$", text, re.M)
    env = dict(re.findall(r"(STREAMREC_[A-Z_]+)=(\S+)", text))
    assert set(env) <= WORKER_ENV | TRAINER_ENV
    volume = re.search(r'^VOLUME \["([^"]+)"\]', text, re.M)
    assert volume is not None
    assert env["STREAMREC_DATA_DIR"].startswith(volume.group(1) + "/")
    assert f"EXPOSE {Settings().web_port}" in text
