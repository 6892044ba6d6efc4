"""Every topic streamrec creates is declared once, as data, with the deployment's replication."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamrec.stream.config.settings import Settings
from streamrec.stream.config.topics import items_topic, lease_topic, models_topic, worker_topics
from streamrec.stream.config.trainer_settings import TrainerSettings

REPO = Path(__file__).resolve().parents[2]


def test_topics_take_replication_and_names_from_the_settings() -> None:
    s = Settings(app_id="shop", replication=3, partitions=6)
    specs = {t.name: t for t in worker_topics(s)}
    assert set(specs) == {
        "streamrec-events",
        "shop-events-by-user",
        "streamrec-recommendations",
        "streamrec-dead-letters",
        "streamrec-items",
        "shop-user-state-changelog",
        "shop-item-metadata-changelog",
    }
    assert {t.replication for t in specs.values()} == {3}
    assert specs["shop-events-by-user"].partitions == 6
    assert items_topic(s).configs == {"cleanup.policy": "compact"}
    # The tables' changelogs exist before any worker joins: compacted, partitioned like the table.
    assert specs["shop-user-state-changelog"].partitions == 6
    assert specs["shop-item-metadata-changelog"].partitions == 1
    assert specs["shop-user-state-changelog"].configs == {"cleanup.policy": "compact"}
    t = TrainerSettings(app_id="shop", replication=3, models_topic="shop-models")
    lease = lease_topic(t)
    assert (lease.name, lease.partitions, lease.replication) == ("shop-trainer-lease", 1, 3)
    models = models_topic(t.models_topic, t.replication)
    assert models.replication == 3 and models.configs["cleanup.policy"] == "compact"
    assert not any("min.insync.replicas" in spec.configs for spec in [*specs.values(), lease])


def test_every_created_topic_takes_min_insync_replicas_from_the_settings() -> None:
    s = Settings(app_id="shop", replication=3, min_insync_replicas=2)
    t = TrainerSettings(app_id="shop", replication=3, min_insync_replicas=2, models_topic="m")
    specs = [
        *worker_topics(s),
        items_topic(s),
        lease_topic(t),
        models_topic("m", t.replication, t.min_insync_replicas),
    ]
    assert {spec.configs.get("min.insync.replicas") for spec in specs} == {"2"}
    assert {spec.replication for spec in specs} == {3}


def test_min_insync_above_the_replication_is_refused() -> None:
    with pytest.raises(ValidationError, match="exceeds STREAMREC_REPLICATION=2"):
        Settings(replication=2, min_insync_replicas=3)


def test_only_the_topics_module_builds_create_requests() -> None:
    users = []
    for top in ("stream", "models", "export"):
        for path in (REPO / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Name) and node.id == "NewTopic":
                    users.append(str(path.relative_to(REPO)))
    assert set(users) == {"stream/config/topics.py"}
