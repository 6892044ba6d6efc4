"""The 3-broker mode of deploy/kafka/kafka.sh: it starts, streamrec's topics get the settings'
replication and min.insync.replicas, and a replication-3 topic takes writes with a node down.

One cluster serves the module; the test that stops a node runs last (tests run in file order).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import NodeNotReadyError, UnknownBrokerIdError

from streamrec.stream.config.settings import Settings
from streamrec.stream.config.topics import create_topics, models_topic, worker_topics
from streamrec.stream.tools import ports
from tests.support.kafka import KAFKA_SH, unique_name


@dataclass(frozen=True)
class Cluster:
    bootstrap: str
    data: Path

    def run(self, *args: str) -> None:
        subprocess.run([str(KAFKA_SH), *args, "--dir", str(self.data)], check=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    base = ports.free_ports(ports.CLUSTER_OFFSETS)
    made = Cluster(
        ",".join(f"127.0.0.1:{base + i}" for i in range(3)),
        Path(tempfile.mkdtemp(prefix="streamrec-cluster-")),
    )
    made.run("cluster-start", "--port", str(base))
    try:
        yield made
    finally:
        subprocess.run([str(KAFKA_SH), "cluster-stop", "--dir", str(made.data)], check=False)
        subprocess.run(["rm", "-rf", str(made.data)], check=False)


def _admin(bootstrap: str) -> KafkaAdminClient:
    """An admin client that knows all three brokers (right after start it may not yet)."""
    deadline = time.monotonic() + 90
    while True:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            if len(admin.describe_cluster()["brokers"]) == 3:
                return admin
        except (UnknownBrokerIdError, NodeNotReadyError):
            pass
        admin.close()
        if time.monotonic() > deadline:
            raise TimeoutError("the cluster did not show three brokers")
        time.sleep(1.0)


def test_streamrec_topics_take_replication_and_min_insync_from_the_settings(
    cluster: Cluster,
) -> None:
    app = unique_name("durable")
    settings = Settings(
        bootstrap=cluster.bootstrap, app_id=app, replication=3, min_insync_replicas=2
    )
    specs = [
        *worker_topics(settings),
        models_topic(f"{app}-models", settings.replication, settings.min_insync_replicas),
    ]
    admin = _admin(cluster.bootstrap)
    try:
        deadline = time.monotonic() + 60
        while True:  # the controller may still be settling right after start
            try:
                create_topics(settings.kafka, specs)
                break
            except (UnknownBrokerIdError, NodeNotReadyError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        names = [spec.name for spec in specs]
        # A broker answers from its copy of the cluster's metadata, which may trail the
        # controller's for a moment right after the topics are made: ask until it has them.
        deadline = time.monotonic() + 30
        while True:
            insync, replicas = _durability(admin, names)
            if (insync, replicas) == ({n: "2" for n in names}, {n: {3} for n in names}):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"min.insync.replicas {insync}, replica counts {replicas}")
            time.sleep(0.5)
    finally:
        admin.close()


def _durability(
    admin: KafkaAdminClient, names: list[str]
) -> tuple[dict[str, str | None], dict[str, set[int]]]:
    """Each topic's min.insync.replicas (None: not shown) and its partitions' replica counts."""
    described = admin.describe_configs(
        config_resources=[ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
    )
    insync = {
        name: configs.get("min.insync.replicas", {}).get("value")
        for name, configs in described.get("topic", {}).items()
    }
    replicas = {
        t["name"]: {len(p["replica_nodes"]) for p in t["partitions"]}
        for t in admin.describe_topics(names)
    }
    return insync, replicas


def test_three_broker_cluster_replicates_with_min_isr_two(cluster: Cluster) -> None:
    bootstrap, run = cluster.bootstrap, cluster.run
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    topic = unique_name("rf3")
    deadline = time.monotonic() + 90
    while True:  # right after start the client may not yet know the controller's node
        try:
            admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])
            break
        except (UnknownBrokerIdError, NodeNotReadyError):
            if time.monotonic() > deadline:
                raise
            # A client that learnt the brokers before all three registered keeps asking
            # for a controller it does not know: start again from the bootstrap list.
            admin.close()
            time.sleep(1.0)
            admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    meta = admin.describe_topics([topic])[0]
    deadline = time.monotonic() + 20
    while not meta["partitions"] and time.monotonic() < deadline:  # metadata propagates
        time.sleep(0.2)
        meta = admin.describe_topics([topic])[0]
    admin.close()
    assert meta["partitions"], meta
    assert all(len(p["replica_nodes"]) == 3 for p in meta["partitions"]), meta

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(300):
        producer.send(topic, key=str(i % 7).encode(), value=str(i).encode()).get(timeout=30)
    # One node down: 2 in-sync replicas remain, min.insync.replicas=2 still accepts acks=all.
    run("node-stop", "3")
    for i in range(300, 400):
        producer.send(topic, key=str(i % 7).encode(), value=str(i).encode()).get(timeout=60)
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10000,
    )
    values = sorted(int(r.value) for r in consumer)
    consumer.close()
    assert values == list(range(400))
