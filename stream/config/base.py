"""What every streamrec process that talks to Kafka shares: one settings base.

A worker (:class:`~.settings.Settings`) and the online trainer
(:class:`~.trainer_settings.TrainerSettings`) both extend :class:`DeploymentSettings`, so one
``STREAMREC_*`` environment configures a whole deployment: the same broker, deployment id and
topics, the same models-topic trust, the same input limits. Every name derived from these (topics,
group and client ids) is a property here, computed nowhere else.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamrec.stream.config.kafka import (
    KafkaConnection,
    SaslMechanism,
    SecurityProtocol,
    split_bootstrap,
)
from streamrec.stream.records.schemas import EventLimits

MIN_KEY_CHARS = 16


def _check_signing_key(key: SecretStr) -> SecretStr:
    if len(key.get_secret_value()) < MIN_KEY_CHARS:
        raise ValueError(f"models signing key must be at least {MIN_KEY_CHARS} characters")
    return key


SigningKey = Annotated[SecretStr, AfterValidator(_check_signing_key)]
"""A settings field type: a secret of at least :data:`MIN_KEY_CHARS` characters."""


class DeploymentSettings(BaseSettings):
    """The deployment: broker, id, shared topics, model trust, input limits."""

    model_config = SettingsConfigDict(env_prefix="STREAMREC_", frozen=True)

    # --- Kafka -------------------------------------------------------------------------------
    bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    kafka_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT",
        description="How every client connects to Kafka: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT "
        "or SASL_SSL (SASL over TLS, what managed Kafka services take).",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        "PLAIN",
        description="SASL mechanism with a SASL_* protocol: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.",
    )
    kafka_sasl_username: str | None = Field(
        None, description="SASL user name (required with a SASL_* protocol)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        None,
        description="SASL password (required with a SASL_* protocol; mount it from a secret).",
    )
    kafka_ssl_cafile: FilePath | None = Field(
        None,
        description="PEM file of the CA certificates that sign the brokers' certificates "
        "(SSL and SASL_SSL). Unset: the system's trusted CAs.",
    )
    kafka_ssl_certfile: FilePath | None = Field(
        None,
        description="PEM client certificate, for brokers that require TLS client "
        "authentication (it may hold the key too).",
    )
    kafka_ssl_keyfile: FilePath | None = Field(
        None, description="PEM private key of STREAMREC_KAFKA_SSL_CERTFILE, when separate."
    )
    kafka_ssl_check_hostname: bool = Field(
        True,
        description="Check that each broker's certificate names the host connected to. Turn "
        "off only for brokers reached under a name their certificate lacks.",
    )
    app_id: str = Field(
        "streamrec", description="Faust app id: consumer group, table and changelog prefix."
    )
    events_topic: str = Field(
        "streamrec-events",
        description="Input events (JSON), keyed by user id; other keys are repartitioned.",
    )
    replication: int = Field(1, ge=1, description="Replication factor of created topics.")
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="min.insync.replicas of every topic streamrec creates (at most "
        "STREAMREC_REPLICATION). Workers and the trainer produce with acks=all, so a write "
        "is acknowledged only once this many replicas hold it: 2 with replication 3 keeps "
        "every acknowledged record through the loss of one broker. Unset: the broker's "
        "default.",
    )
    session_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Consumer group session timeout: how soon a dead worker's partitions move "
        "(and a standby trainer takes the lease).",
    )

    # --- model distribution ------------------------------------------------------------------
    models_topic: str | None = Field(
        None,
        description="Compacted topic of model versions, chunks and serving history. Workers "
        "follow it (hot swap; their bundle serves until a version is announced); the trainer "
        "publishes to it and needs it. Unset: workers serve their bundle only.",
    )
    models_signing_key: SigningKey | None = Field(
        None,
        description="HMAC-SHA256 key of the models topic (at least 16 characters, the same for "
        "the trainer and every worker). The trainer signs with it; readers refuse unsigned or "
        "mis-signed records and count them. Unset: nothing is signed or checked (a warning is "
        "logged once).",
    )
    models_keep_versions: int = Field(
        5,
        ge=1,
        description="Promoted versions whose archives are kept (in memory, on disk and, by "
        "the trainer's pruning, on the topic), besides the serving one.",
    )
    models_max_archive_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1024 * 1024,
        description="Largest version archive accepted from the models topic (bytes, also "
        "the cap of one archive member).",
    )

    # --- input validation (worker and trainer parse events alike) ----------------------------
    max_payload_bytes: int = Field(4096, ge=64, description="Larger events are dead-lettered.")
    max_id_length: int = Field(
        128, ge=1, le=4096, description="Longest user/item/session/event id."
    )
    max_event_future_s: float = Field(
        86_400.0,
        ge=0,
        description="Events whose ts is further ahead of the worker's clock are dead-lettered "
        "(a far-future ts would otherwise pin a user's last_ts and the trainer's window).",
    )
    max_event_age_s: float | None = Field(
        None,
        gt=0,
        description="Events whose ts is further in the past are dead-lettered. Unset: any "
        "past ts is accepted (replays of historical data).",
    )

    log_level: str = Field("WARNING", description="Log level of the worker or the trainer.")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines of the worker or the trainer: text for people, or json for log "
        "collectors (one object per line: time, level, logger, message, process, and the "
        "traceback as exception).",
    )

    @model_validator(mode="after")
    def _insync_within_replication(self) -> DeploymentSettings:
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication:
            raise ValueError(
                f"STREAMREC_MIN_INSYNC_REPLICAS={self.min_insync_replicas} exceeds "
                f"STREAMREC_REPLICATION={self.replication}: no write could ever be acknowledged"
            )
        return self

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> DeploymentSettings:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"STREAMREC_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "STREAMREC_KAFKA_SASL_USERNAME and STREAMREC_KAFKA_SASL_PASSWORD"
            )
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError(
                "STREAMREC_KAFKA_SSL_KEYFILE is set without STREAMREC_KAFKA_SSL_CERTFILE"
            )
        tls_files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile)
        if protocol not in ("SSL", "SASL_SSL") and any(f is not None for f in tls_files):
            raise ValueError(
                f"TLS files are set but STREAMREC_KAFKA_SECURITY_PROTOCOL={protocol} does not "
                "use TLS (choose SSL or SASL_SSL)"
            )
        return self

    @property
    def kafka(self) -> KafkaConnection:
        """How every client of this deployment reaches Kafka (servers, TLS, SASL)."""
        password = self.kafka_sasl_password
        return KafkaConnection(
            bootstrap=tuple(self.bootstrap_servers),
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=password.get_secret_value() if password else None,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
        )

    @property
    def bootstrap_servers(self) -> list[str]:
        """The bootstrap list as Kafka clients take it."""
        return split_bootstrap(self.bootstrap)

    def client_id(self, role: str) -> str:
        """Kafka client id of one role of this deployment (admin, publisher, ...)."""
        return f"{self.app_id}-{role}"

    @property
    def event_limits(self) -> EventLimits:
        """The bounds input events are validated against."""
        return EventLimits(
            max_payload_bytes=self.max_payload_bytes,
            max_id_length=self.max_id_length,
            max_future_s=self.max_event_future_s,
            max_age_s=self.max_event_age_s,
        )

    @property
    def repartition_topic(self) -> str:
        """Internal topic for events whose partition is not their user's."""
        return f"{self.app_id}-events-by-user"

    @property
    def lease_topic(self) -> str:
        """Single-partition topic whose one partition is the trainer lease."""
        return f"{self.app_id}-trainer-lease"

    @property
    def lease_group(self) -> str:
        """Consumer group of all trainers of this deployment."""
        return f"{self.app_id}-trainer"
