"""Check, before anything else starts, that Kafka takes this process's connection.

Kafka clients treat a refused login like a broker that is away: kafka-python retries until
its bootstrap times out (30 s) and then reports only "Unable to bootstrap", and a Faust worker
retries for ever. :func:`check_access` opens one connection to a bootstrap server with the
deployment's TLS and SASL settings and turns what goes wrong into one line that names the
cause (wrong password, unknown mechanism, untrusted certificate, TLS against a plaintext port
and the reverse, nothing listening), so a misconfigured process stops at once.

It uses ``aiokafka.conn.create_conn``, a public function of aiokafka's connection module that
performs the TLS handshake and the SASL exchange exactly as aiokafka's clients do, then sends
one ``ApiVersions`` request, the first request of every Kafka client.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.admin import ApiVersionRequest

from streamrec.stream.config.kafka import KafkaConnection

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 10.0


class KafkaAccessError(RuntimeError):
    """Raised when no bootstrap server accepts this process's connection (one-line message)."""


def _host_port(server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        raise KafkaAccessError(
            f"bootstrap server {server!r} is not host:port (STREAMREC_BOOTSTRAP)"
        )
    return host.strip("[]"), int(port)


def _explain(conn: KafkaConnection, exc: BaseException) -> str:
    """Why a connection failed, in words that point at the setting to change."""
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            f"the broker refused the {conn.sasl_mechanism} login of user "
            f"{conn.sasl_username!r}: wrong user name or password "
            "(STREAMREC_KAFKA_SASL_USERNAME / STREAMREC_KAFKA_SASL_PASSWORD)"
        )
    if isinstance(exc, UnsupportedSaslMechanismError | IllegalSaslStateError):
        return (
            f"the broker does not take SASL mechanism {conn.sasl_mechanism} on this listener "
            "(STREAMREC_KAFKA_SASL_MECHANISM)"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the broker's TLS certificate is not trusted ({exc.verify_message}): set "
            "STREAMREC_KAFKA_SSL_CAFILE to the CA that signed it"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"the TLS handshake failed ({exc.reason or exc}): is this listener TLS? "
            "(STREAMREC_KAFKA_SECURITY_PROTOCOL)"
        )
    if isinstance(exc, KafkaConnectionError):
        if conn.uses_tls:
            return f"the broker closed the connection ({exc}); check the listener's protocol"
        return (
            "the broker closed the connection: the listener probably expects TLS or SASL "
            "(STREAMREC_KAFKA_SECURITY_PROTOCOL)"
        )
    if isinstance(exc, ConnectionResetError) and conn.uses_tls:
        return (
            "the broker reset the connection during the TLS handshake: the listener is "
            "probably plaintext (STREAMREC_KAFKA_SECURITY_PROTOCOL)"
        )
    if isinstance(exc, TimeoutError):
        return "no answer (a TLS client to a plaintext listener waits like this too)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


async def _probe(conn: KafkaConnection, server: str, timeout_s: float) -> None:
    host, port = _host_port(server)
    kwargs = conn.aiokafka()
    kwargs.pop("bootstrap_servers")
    connection = await asyncio.wait_for(
        create_conn(
            host,
            port,
            client_id="streamrec-access-check",
            request_timeout_ms=int(timeout_s * 1000),
            **kwargs,
        ),
        timeout_s,
    )
    try:  # a first request: a listener that wants SASL closes the connection here
        await asyncio.wait_for(connection.send(ApiVersionRequest()), timeout_s)
    finally:
        connection.close()


async def check_access_async(conn: KafkaConnection, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Raise :class:`KafkaAccessError` unless some bootstrap server takes a connection."""
    reasons = []
    for server in conn.bootstrap:
        try:
            await _probe(conn, server, timeout_s)
        except KafkaAccessError:
            raise
        except (OSError, TimeoutError, KafkaConnectionError, IllegalSaslStateError) as exc:
            reasons.append(f"{server}: {_explain(conn, exc)}")
        except (SaslAuthenticationFailed, UnsupportedSaslMechanismError) as exc:
            # The broker answered: another server of the same cluster would say the same.
            raise KafkaAccessError(
                f"cannot log in to Kafka at {server} over {conn.security_protocol}: "
                f"{_explain(conn, exc)}"
            ) from None
        else:
            log.debug("Kafka at %s takes this process's connection", server)
            return
    if not reasons:
        raise KafkaAccessError("no Kafka bootstrap servers are set (STREAMREC_BOOTSTRAP)")
    raise KafkaAccessError(f"cannot connect to Kafka ({conn.describe()}): " + "; ".join(reasons))


def check_access(conn: KafkaConnection, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """:func:`check_access_async` for synchronous callers (entry points, before any loop)."""
    asyncio.run(check_access_async(conn, timeout_s))
