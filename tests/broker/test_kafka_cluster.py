"""The 3-broker mode of deploy/kafka/kafka.sh: starts, and a replication-3 topic takes writes."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import NodeNotReadyError, UnknownBrokerIdError

from streamrec.stream.tools import ports
from tests.support.kafka import KAFKA_SH, unique_name


def test_three_broker_cluster_replicates_with_min_isr_two() -> None:
    base = ports.free_ports(ports.CLUSTER_OFFSETS)
    data = Path(tempfile.mkdtemp(prefix="streamrec-cluster-"))
    run = lambda *a: subprocess.run([str(KAFKA_SH), *a, "--dir", str(data)], check=True)  # noqa: E731
    run("cluster-start", "--port", str(base))
    bootstrap = ",".join(f"127.0.0.1:{base + i}" for i in range(3))
    try:
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
    finally:
        subprocess.run([str(KAFKA_SH), "cluster-stop", "--dir", str(data)], check=False)
        subprocess.run(["rm", "-rf", str(data)], check=False)
