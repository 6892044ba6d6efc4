"""The Kafka security settings: validated at start, rendered alike for every client library."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamrec.stream.config.kafka import KafkaConnection
from streamrec.stream.config.settings import Settings
from streamrec.stream.tools import ports
from streamrec.stream.transport.access import KafkaAccessError, check_access


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real self-signed certificate in PEM (what kafka.sh secure-start hands to clients)."""
    d = tmp_path_factory.mktemp("ca")
    store, pem = d / "s.p12", d / "ca.pem"
    common = ["-keystore", str(store), "-storetype", "PKCS12", "-storepass", "changeit"]
    subprocess.run(
        [
            "keytool",
            "-genkeypair",
            "-alias",
            "b",
            "-keyalg",
            "RSA",
            "-dname",
            "CN=localhost",
            "-keypass",
            "changeit",
            *common,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["keytool", "-exportcert", "-rfc", "-alias", "b", "-file", str(pem), *common],
        check=True,
        capture_output=True,
    )
    return pem


def test_plaintext_by_default_with_no_security_options() -> None:
    conn = Settings(bootstrap="a:1, b:2").kafka
    assert conn == KafkaConnection.plain("a:1,b:2")
    assert conn.kafka_python() == {
        "bootstrap_servers": ["a:1", "b:2"],
        "security_protocol": "PLAINTEXT",
    }
    assert conn.faust_credentials() is None and conn.ssl_context() is None


def test_sasl_ssl_renders_for_kafka_python_aiokafka_and_faust(ca_pem: Path) -> None:
    from faust.auth import SASLCredentials
    from faust.types.auth import AuthProtocol

    s = Settings(
        bootstrap="127.0.0.1:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password="pw-123",  # type: ignore[arg-type]
        kafka_ssl_cafile=ca_pem,
    )
    conn = s.kafka
    for kwargs in (conn.kafka_python(), conn.aiokafka()):
        assert kwargs["security_protocol"] == "SASL_SSL"
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("svc", "pw-123")
        context = kwargs["ssl_context"]
        assert isinstance(context, ssl.SSLContext) and context.check_hostname
        assert context.cert_store_stats()["x509"] == 1  # the CA file was loaded
    creds = conn.faust_credentials()
    assert isinstance(creds, SASLCredentials)
    assert creds.protocol is AuthProtocol.SASL_SSL and creds.mechanism.value == "SCRAM-SHA-512"
    assert "pw-123" not in repr(conn) and "pw-123" not in conn.describe()
    assert conn.describe() == "127.0.0.1:9092 over SASL_SSL (SCRAM-SHA-512 as svc)"


def test_sasl_plaintext_has_no_tls_and_ssl_has_no_sasl(ca_pem: Path) -> None:
    from faust.auth import SASLCredentials, SSLCredentials
    from faust.types.auth import AuthProtocol

    sasl = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="svc",
        kafka_sasl_password="pw",  # type: ignore[arg-type]
    ).kafka
    assert "ssl_context" not in sasl.kafka_python()
    creds = sasl.faust_credentials()
    assert isinstance(creds, SASLCredentials) and creds.protocol is AuthProtocol.SASL_PLAINTEXT
    tls = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ca_pem).kafka
    assert "sasl_mechanism" not in tls.aiokafka()
    assert isinstance(tls.faust_credentials(), SSLCredentials)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "needs STREAMREC_KAFKA_SASL_USERNAME"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"},
            "STREAMREC_KAFKA_SASL_PASSWORD",
        ),
        ({"kafka_ssl_cafile": "CA"}, "does not use TLS"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "CA"},
            "without STREAMREC_KAFKA_SSL_CERTFILE",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent.pem"},
            "does not point to a file",
        ),
        ({"kafka_security_protocol": "TLS"}, "PLAINTEXT"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "SCRAM-SHA-512"),
    ],
)
def test_incomplete_or_contradictory_settings_are_refused(
    fields: dict[str, str], message: str, ca_pem: Path
) -> None:
    given = {k: (str(ca_pem) if v == "CA" else v) for k, v in fields.items()}
    with pytest.raises(ValidationError, match=message):
        Settings(**given)  # type: ignore[arg-type]


def test_access_check_names_every_server_that_refused() -> None:
    base = ports.free_ports((0, 1))
    conn = KafkaConnection.plain(f"127.0.0.1:{base},127.0.0.1:{base + 1}")
    with pytest.raises(KafkaAccessError) as caught:
        check_access(conn, timeout_s=2)
    text = str(caught.value)
    assert f"127.0.0.1:{base}:" in text and f"127.0.0.1:{base + 1}:" in text
    assert "\n" not in text


def test_access_check_refuses_a_server_without_a_port() -> None:
    with pytest.raises(KafkaAccessError, match="is not host:port"):
        check_access(KafkaConnection.plain("kafka.internal"), timeout_s=1)
