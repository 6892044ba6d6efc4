"""The worker's Kafka topics, declared as data and created on start with their configs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streamrec.stream.config.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


class TopicError(RuntimeError):
    """Raised when the topics cannot be created or do not fit together."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic the worker needs and how to create it when missing."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings, partitions: int | None = None) -> list[TopicSpec]:
    """Events, repartition, recommendations and dead letters (changelogs are Faust's)."""
    p = partitions or settings.partitions
    return [
        TopicSpec(settings.events_topic, p, {"retention.ms": str(7 * DAY_MS)}),
        # Same partition count as the events: the table is co-partitioned with both.
        TopicSpec(settings.repartition_topic, p, {"retention.ms": str(DAY_MS)}),
        TopicSpec(
            settings.recommendations_topic,
            p,
            {"retention.ms": str(DAY_MS), "compression.type": "producer"},
        ),
        TopicSpec(settings.dead_letter_topic, 1, {"retention.ms": str(14 * DAY_MS)}),
    ]


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=settings.client_id("admin")
    )


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
    specs = topic_specs(settings, partitions)
    admin = _admin(settings)
    try:
        for spec in specs:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            spec.name,
                            num_partitions=spec.partitions,
                            replication_factor=settings.replication,
                            topic_configs=spec.configs,
                        )
                    ]
                )
                log.info("created topic %s (%d partitions)", spec.name, spec.partitions)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    check_copartitioned(settings, partitions)
    return partitions
