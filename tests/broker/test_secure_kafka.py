"""Kafka behind SASL over TLS: a broker started by ``kafka.sh secure-start`` (its client listener
takes only SASL_SSL, with a self-signed certificate made by keytool and SCRAM credentials made at
format time), and every kind of streamrec client talking to it.

- a worker consumes, keeps state and answers over SASL_SSL (SCRAM-SHA-512), fed and read by the
  command-line tools (``streamrec publish`` / ``subscribe``);
- the trainer opens its topics, lease and publisher over SASL_SSL (SCRAM-SHA-256);
- a wrong password, an untrusted certificate, plaintext against the TLS port: one clear line and
  exit status 2 at once, never a hang in the clients' retries.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamrec.stream.config.kafka import KafkaConnection
from streamrec.stream.config.settings import Settings
from streamrec.stream.config.trainer_settings import TrainerSettings
from streamrec.stream.tools import ports
from streamrec.stream.transport.access import KafkaAccessError, check_access
from tests.support.kafka import KAFKA_SH, REPO, unique_name
from tests.support.stream import Worker, event_json, wait_until, worker_settings

USER = "streamrec-svc"


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    ca: Path
    password: str
    internal: str  # the broker's own plaintext listener (setup and checks only)

    def env(self, mechanism: str = "SCRAM-SHA-512", password: str | None = None) -> dict[str, str]:
        """The ``STREAMREC_KAFKA_*`` variables of a client of this broker."""
        return {
            "STREAMREC_BOOTSTRAP": self.bootstrap,
            "STREAMREC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "STREAMREC_KAFKA_SASL_MECHANISM": mechanism,
            "STREAMREC_KAFKA_SASL_USERNAME": USER,
            "STREAMREC_KAFKA_SASL_PASSWORD": self.password if password is None else password,
            "STREAMREC_KAFKA_SSL_CAFILE": str(self.ca),
        }

    def connection(self, **changes: object) -> KafkaConnection:
        fields: dict[str, object] = {
            "bootstrap": (self.bootstrap,),
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": USER,
            "sasl_password": self.password,
            "ssl_cafile": self.ca,
            **changes,
        }
        return KafkaConnection(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureBroker]:
    base = ports.free_ports(ports.SECURE_OFFSETS)
    data = Path(tempfile.mkdtemp(prefix="streamrec-secure-kafka-"))
    password = secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")
    start = [str(KAFKA_SH), "secure-start", "--port", str(base), "--dir", str(data)]
    subprocess.run([*start, "--user", USER, "--password", password], check=True)
    try:
        yield SecureBroker(
            f"127.0.0.1:{base}", data / "ca.pem", password, f"127.0.0.1:{base + 2000}"
        )
    finally:
        subprocess.run([str(KAFKA_SH), "stop", "--dir", str(data)], check=False)
        subprocess.run(["rm", "-rf", str(data)], check=False)


def streamrec(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the ``streamrec`` command line with ``env`` added to this environment."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "streamrec.stream.cli", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_worker_serves_over_sasl_ssl(
    secure: SecureBroker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = worker_settings(tmp_path, tiny_bundle, partitions=2, prefix="secure")
    login = {
        k.removeprefix("STREAMREC_").lower(): v
        for k, v in secure.env().items()
        if k != "STREAMREC_BOOTSTRAP"
    }
    worker = Worker(secure.bootstrap, tmp_path / "worker.log", ports.free_port(), **s, **login)
    worker.start()
    try:
        worker.wait_ready(120)
        users = [f"u{n}" for n in range(12)]
        events = tmp_path / "events.jsonl"
        events.write_bytes(
            b"\n".join(
                event_json(u, f"i{(n + k) % 60}", ts=1_700_000_000.0 + k)
                for k in range(3)
                for n, u in enumerate(users)
            )
            + b"\n"
        )
        topics = {
            "STREAMREC_EVENTS_TOPIC": str(s["events_topic"]),
            "STREAMREC_RECOMMENDATIONS_TOPIC": str(s["recommendations_topic"]),
        }
        sent = streamrec({**secure.env(), **topics}, "publish", str(events))
        assert sent.returncode == 0, sent.stderr
        got = streamrec(
            {**secure.env(), **topics},
            "subscribe",
            "--from-beginning",
            "--limit",
            str(3 * len(users)),
            "--json",
            "--idle-timeout",
            "60",
        )
        assert got.returncode == 0, got.stderr
        answered = [line for line in got.stdout.splitlines() if line.startswith("{")]
        assert len(answered) == 3 * len(users), got.stdout[-2000:]
        status, body = worker.get("/users/u3/recommendations")
        assert status == 200 and b'"event_count":3' in body.replace(b" ", b"")
    finally:
        worker.stop()


def test_trainer_opens_its_topics_over_sasl_ssl(secure: SecureBroker, tmp_path: Path) -> None:
    from streamrec.stream.trainer.loop import Trainer

    app = unique_name("secure-ft")
    conn = secure.connection(sasl_mechanism="SCRAM-SHA-256")
    s = TrainerSettings(
        bootstrap=secure.bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username=USER,
        kafka_sasl_password=secure.password,  # type: ignore[arg-type]
        kafka_ssl_cafile=secure.ca,
        app_id=app,
        events_topic=f"{app}-events",
        models_topic=f"{app}-models",
        work_dir=tmp_path / "trainer",
        session_timeout_s=6.0,
    )
    assert s.kafka == conn
    trainer = Trainer(s)
    trainer.open()
    try:
        lease = trainer._lease
        assert lease is not None
        wait_until(
            lambda: lease.poll(timeout_ms=200) is not None and trainer.active, 30, 0.2, "lease"
        )
        assert trainer.poll_once() == 0  # the events consumer reads (nothing yet)
    finally:
        trainer.close()


def test_a_wrong_password_stops_the_worker_at_once_with_one_line(
    secure: SecureBroker, tiny_bundle: Path, tmp_path: Path
) -> None:
    env = {**secure.env(password="not-the-password"), "STREAMREC_BUNDLE": str(tiny_bundle)}
    env["STREAMREC_DATA_DIR"] = str(tmp_path / "state")
    started = time.monotonic()
    done = streamrec(env, "worker", timeout=60)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    assert "refused the SCRAM-SHA-512 login of user 'streamrec-svc'" in errors[0]
    assert "not-the-password" not in done.stderr
    assert took < 30, f"took {took:.1f}s"


def test_tools_name_the_cause_of_a_refused_connection(secure: SecureBroker) -> None:
    no_ca = {k: v for k, v in secure.env().items() if k != "STREAMREC_KAFKA_SSL_CAFILE"}
    done = streamrec(no_ca, "subscribe", "--idle-timeout", "1", timeout=60)
    assert done.returncode == 2
    assert (
        "certificate is not trusted" in done.stderr and "STREAMREC_KAFKA_SSL_CAFILE" in done.stderr
    )
    plain = streamrec({"STREAMREC_BOOTSTRAP": secure.bootstrap}, "subscribe", timeout=60)
    assert plain.returncode == 2 and "expects TLS or SASL" in plain.stderr


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_every_mechanism_logs_in(secure: SecureBroker, mechanism: str) -> None:
    check_access(secure.connection(sasl_mechanism=mechanism))
    with pytest.raises(KafkaAccessError, match="wrong user name or password"):
        check_access(secure.connection(sasl_mechanism=mechanism, sasl_password="nope"))


def test_settings_from_the_environment_build_the_same_connection(
    secure: SecureBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in secure.env().items():
        monkeypatch.setenv(key, value)
    assert Settings().kafka == secure.connection()
    assert secure.password not in repr(Settings().kafka)


def test_subscribe_waits_for_a_topic_no_worker_has_made(secure: SecureBroker) -> None:
    topic = {"STREAMREC_RECOMMENDATIONS_TOPIC": unique_name("not-yet")}
    done = streamrec({**secure.env(), **topic}, "subscribe", "--idle-timeout", "2", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "does not exist (no worker has created it yet)" in done.stderr
