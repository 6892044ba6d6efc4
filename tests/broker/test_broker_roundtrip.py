"""The parts are real: kafka-python produces, aiokafka consumes in a group, on a real broker."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer
from kafka.admin import ConfigResource

from tests.support.kafka import Broker, unique_name

N_RECORDS = 10_000
N_KEYS = 97


def test_compacted_topic_roundtrip_keeps_every_record_in_key_order(
    broker: Broker, new_topic
) -> None:
    topic = new_topic("roundtrip", partitions=4, configs={"cleanup.policy": "compact"})
    admin = broker.admin()
    try:
        described = admin.describe_configs(config_resources=[ConfigResource("TOPIC", topic)])
    finally:
        admin.close()
    assert "compact" in str(described)

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
    for i in range(N_RECORDS):
        key = f"user-{i % N_KEYS}".encode()
        producer.send(topic, key=key, value=str(i).encode())
    producer.flush()
    producer.close()

    async def consume() -> dict[bytes, list[int]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap,
            group_id=unique_name("roundtrip-group"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        seen: dict[bytes, list[int]] = defaultdict(list)
        total = 0
        try:
            while total < N_RECORDS:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=30)
                for records in batch.values():
                    for r in records:
                        seen[r.key].append(int(r.value))
                        total += 1
            await consumer.commit()
        finally:
            await consumer.stop()
        return seen

    seen = asyncio.run(consume())
    assert sum(len(v) for v in seen.values()) == N_RECORDS
    assert len(seen) == N_KEYS
    for key, values in seen.items():
        k = int(key.decode().split("-")[1])
        assert values == list(range(k, N_RECORDS, N_KEYS)), f"order broken for {key!r}"
