"""Every Kafka topic streamrec creates, declared once as data, and the one function creating them.

Changelog topics are Faust's (it creates them with the table); everything else is here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streamrec.stream.config.base import DeploymentSettings
from streamrec.stream.config.kafka import KafkaConnection
from streamrec.stream.config.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
MODELS_MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # largest models-topic record (a chunk plus its key)


class TopicError(RuntimeError):
    """Raised when the topics cannot be created or do not fit together."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic streamrec needs, as data: how to create it when it is missing."""

    name: str
    partitions: int
    replication: int = 1
    compacted: bool = False
    retention_ms: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    min_insync: int | None = None  # min.insync.replicas (None: the broker's default)

    @property
    def configs(self) -> dict[str, str]:
        """Topic-level configs of the CreateTopics request."""
        out = {"cleanup.policy": "compact"} if self.compacted else {}
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        if self.min_insync is not None:
            out["min.insync.replicas"] = str(self.min_insync)
        return {**out, **self.extra}


def worker_topics(settings: Settings, partitions: int | None = None) -> list[TopicSpec]:
    """Events, repartition, recommendations, dead letters, items (changelogs are Faust's)."""
    p, rf, isr = (
        partitions or settings.partitions,
        settings.replication,
        settings.min_insync_replicas,
    )
    return [
        TopicSpec(settings.events_topic, p, rf, retention_ms=7 * DAY_MS, min_insync=isr),
        # Same partition count as the events: the table is co-partitioned with both.
        TopicSpec(settings.repartition_topic, p, rf, retention_ms=DAY_MS, min_insync=isr),
        TopicSpec(
            settings.recommendations_topic,
            p,
            rf,
            retention_ms=DAY_MS,
            extra={"compression.type": "producer"},
            min_insync=isr,
        ),
        TopicSpec(settings.dead_letter_topic, 1, rf, retention_ms=14 * DAY_MS, min_insync=isr),
        items_topic(settings),
        # The tables' changelogs, as Faust would create them, but before any worker joins the
        # group: workers starting together otherwise assign partitions while a changelog is
        # still missing (Faust logs "Ignoring missing topic" and the worker may never recover).
        TopicSpec(settings.changelog_topic, p, rf, compacted=True, min_insync=isr),
        TopicSpec(settings.items_changelog_topic, 1, rf, compacted=True, min_insync=isr),
    ]


def items_topic(settings: Settings) -> TopicSpec:
    """The compacted, one-partition item catalog (every worker reads all of it)."""
    return TopicSpec(
        settings.items_topic,
        1,
        settings.replication,
        compacted=True,
        min_insync=settings.min_insync_replicas,
    )


def models_topic(name: str, replication: int = 1, min_insync: int | None = None) -> TopicSpec:
    """The compacted, one-partition models topic (total order of versions and serving records)."""
    return TopicSpec(
        name,
        1,
        replication,
        compacted=True,
        extra={
            "max.message.bytes": str(MODELS_MAX_MESSAGE_BYTES),
            "min.compaction.lag.ms": "60000",
        },
        min_insync=min_insync,
    )


def lease_topic(settings: DeploymentSettings) -> TopicSpec:
    """One partition: the consumer group gives it to exactly one trainer (the lease)."""
    return TopicSpec(
        settings.lease_topic, 1, settings.replication, min_insync=settings.min_insync_replicas
    )


def create_topics(
    kafka: KafkaConnection, specs: Sequence[TopicSpec], client_id: str = "streamrec-admin"
) -> list[str]:
    """Create the topics that are missing (existing ones are left as they are): the names made."""
    admin = KafkaAdminClient(**kafka.kafka_python(), client_id=client_id)
    made = []
    try:
        for spec in specs:
            new = NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication,
                topic_configs=spec.configs,
            )
            try:
                admin.create_topics([new])
            except TopicAlreadyExistsError:
                continue
            log.info("created topic %s (%d partitions)", spec.name, spec.partitions)
            made.append(spec.name)
    finally:
        admin.close()
    return made


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(**settings.kafka.kafka_python(), client_id=settings.client_id("admin"))


@dataclass(frozen=True)
class TopicInfo:
    """What the broker says about an existing topic."""

    name: str
    partitions: int
    topic_id: str  # Kafka's topic id: a recreated topic gets a new one


def describe_topic(settings: Settings, topic: str) -> TopicInfo | None:
    """An existing topic's partition count and id, None when it does not exist."""
    admin = _admin(settings)
    try:
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    for t in described:
        name = t.get("name", t.get("topic"))
        if name == topic and not t.get("error_code") and t.get("partitions"):
            return TopicInfo(topic, len(t["partitions"]), str(t.get("topic_id") or ""))
    return None


def partition_count(settings: Settings, topic: str) -> int | None:
    """Partitions of an existing topic, None when it does not exist."""
    info = describe_topic(settings, topic)
    return None if info is None else info.partitions


def check_copartitioned(settings: Settings, partitions: int) -> None:
    """Refuse to start when the state table was made for another partition count.

    The table's partition ``p`` holds the users of events partition ``p``; with another
    count every user would be looked up in the wrong partition (and its state forgotten).
    """
    for topic in (settings.changelog_topic, settings.repartition_topic):
        found = partition_count(settings, topic)
        if found is not None and found != partitions:
            raise TopicError(
                f"{topic} has {found} partitions but the events topic {settings.events_topic} "
                f"has {partitions}: the per-user state is partitioned like the events, so "
                "they must match. Restore the events topic's partition count, or start "
                "under a new app id (STREAMREC_APP_ID) to rebuild the state from scratch."
            )


def ensure_topics(settings: Settings) -> int:
    """Create missing topics; return the events topic's partition count (the table's)."""
    existing = partition_count(settings, settings.events_topic)
    partitions = existing or settings.partitions
    if existing and existing != settings.partitions:
        log.warning(
            "%s has %d partitions (settings say %d); using %d",
            settings.events_topic,
            existing,
            settings.partitions,
            existing,
        )
    create_topics(settings.kafka, worker_topics(settings, partitions), settings.client_id("admin"))
    check_copartitioned(settings, partitions)
    return partitions
