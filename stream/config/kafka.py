"""How every streamrec client reaches Kafka: bootstrap servers plus TLS and SASL.

One :class:`KafkaConnection` is built from the settings (``settings.kafka``) and handed to
whatever opens a connection: the worker's Faust app, the trainer, the model publisher and
watcher, the topic admin and every tool. It renders itself in the form each client library
takes (kafka-python keyword arguments, aiokafka keyword arguments, Faust credentials), so no
module spells out security options on its own and none can forget them.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
TLS_PROTOCOLS: frozenset[str] = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS: frozenset[str] = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


def split_bootstrap(bootstrap: str) -> list[str]:
    """``"h1:9092, h2:9092"`` -> ``["h1:9092", "h2:9092"]`` (the form Kafka clients take)."""
    return [s.strip() for s in bootstrap.split(",") if s.strip()]


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to authenticate to them (immutable, safe to share)."""

    bootstrap: tuple[str, ...]
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @classmethod
    def plain(cls, bootstrap: str) -> KafkaConnection:
        """An unauthenticated plaintext connection (local brokers, tests, the chaos cluster)."""
        return cls(tuple(split_bootstrap(bootstrap)))

    @property
    def servers(self) -> list[str]:
        """The bootstrap list as Kafka clients take it."""
        return list(self.bootstrap)

    @property
    def uses_tls(self) -> bool:
        """Whether connections are wrapped in TLS."""
        return self.security_protocol in TLS_PROTOCOLS

    @property
    def uses_sasl(self) -> bool:
        """Whether connections authenticate with SASL."""
        return self.security_protocol in SASL_PROTOCOLS

    def describe(self) -> str:
        """One line for logs and errors (never the password)."""
        how: str = self.security_protocol
        if self.uses_sasl:
            how += f" ({self.sasl_mechanism} as {self.sasl_username})"
        return f"{','.join(self.bootstrap)} over {how}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every connection (None without TLS).

        Unset CA file: the system's trusted CAs. A client certificate is presented when set
        (brokers with ``ssl.client.auth=required``).
        """
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile is not None:
            context.load_cert_chain(
                str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None
            )
        return context

    def _sasl(self) -> dict[str, Any]:
        if not self.uses_sasl:
            return {}
        return {
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.sasl_username,
            "sasl_plain_password": self.sasl_password,
        }

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments of aiokafka's clients (producer, consumer, connection)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.servers,
            "security_protocol": self.security_protocol,
            **self._sasl(),
        }
        if self.uses_tls:
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments of kafka-python's clients (producer, consumer, admin)."""
        kwargs = self.aiokafka()  # the same names; kafka-python also takes the hostname check
        if self.uses_tls:
            kwargs["ssl_check_hostname"] = self.ssl_check_hostname
        return kwargs

    def faust_credentials(self) -> CredentialsT | None:
        """Faust's ``broker_credentials`` (None for plaintext)."""
        from faust.auth import SASLCredentials, SSLCredentials

        if self.uses_sasl:
            return SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context(),
            )
        if self.uses_tls:
            return SSLCredentials(self.ssl_context())
        return None
