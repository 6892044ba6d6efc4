"""Multi-process tier: the worker image, built with podman from this checkout and run.

A container of the serve image, on the host network with its state on a named volume, serves
the test broker: ready, one event in, one recommendation out, as user 10001, without torch,
its user state on the volume; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.image import build_image, podman
from tests.support.kafka import Broker, free_port, unique_name
from tests.support.stream import event_json, produce, read_topic, wait_until

pytestmark = pytest.mark.slow

TAG = "localhost/streamrec-worker:test"


def test_the_serve_image_runs_a_worker_as_a_user_with_state_on_its_volume(
    broker: Broker, tiny_bundle: Path
) -> None:
    build_image(tiny_bundle, TAG)
    app, port = unique_name("image"), free_port()
    name, volume = f"streamrec-test-{uuid.uuid4().hex[:8]}", f"streamrec-test-{app}"
    env = {
        "BOOTSTRAP": broker.bootstrap,
        "APP_ID": app,
        "EVENTS_TOPIC": f"{app}-events",
        "RECOMMENDATIONS_TOPIC": f"{app}-recs",
        "DEAD_LETTER_TOPIC": f"{app}-dead",
        "WEB_PORT": str(port),
    }
    flags = [f"--env=STREAMREC_{k}={v}" for k, v in env.items()]
    podman("volume", "create", volume)
    try:
        mounts = ["--volume", f"{volume}:/var/lib/streamrec"]
        podman("run", "--detach", "--name", name, "--network", "host", *mounts, *flags, TAG)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _get(f"{url}/ready") == 200, 90, 0.5, "the container's /ready")
        produce(broker.bootstrap, env["EVENTS_TOPIC"], [(b"u1", event_json("u1", "i1"))])
        (rec,) = read_topic(broker.bootstrap, env["RECOMMENDATIONS_TOPIC"], 1)
        assert rec["user_id"] == "u1" and rec["items"], rec
        assert podman("exec", name, "id", "-u") == "10001"
        spec = "import importlib.util as u; print(u.find_spec('torch'))"
        assert podman("exec", name, "python3", "-c", spec) == "None"  # serve extras: no torch
        podman("stop", "--time", "30", name)
        assert podman("inspect", name, "--format", "{{.State.ExitCode}}") == "0"
        mount = Path(podman("volume", "inspect", volume, "--format", "{{.Mountpoint}}"))
        assert (mount / "state" / app).is_dir(), sorted(p.name for p in mount.iterdir())
    finally:
        podman("rm", "-f", name, check=False)
        podman("volume", "rm", "-f", volume, check=False)


def _get(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except (OSError, urllib.error.HTTPError):
        return 0
