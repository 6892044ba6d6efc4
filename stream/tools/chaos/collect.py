"""Read back everything a chaos run produced: topics, final user states, worker logs."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from streamrec.stream.config.kafka import split_bootstrap
from streamrec.stream.tools.chaos.fleet import http_get
from streamrec.stream.tools.chaos.poison import BY_RAW
from streamrec.stream.tools.chaos.verify import Answer, Letter, Position, SentRecord

log = logging.getLogger(__name__)

Raw = tuple[int, int, bytes | None, bytes | None]  # partition, offset, key, value


class CollectError(RuntimeError):
    """Raised when a topic or a worker cannot be read back."""


def read_topic(bootstrap: str, topic: str, timeout: float = 120.0) -> Iterator[Raw]:
    """Every record of ``topic`` from the beginning to the end offsets seen at the start."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=split_bootstrap(bootstrap),
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        max_partition_fetch_bytes=10_485_760,
    )
    try:
        deadline = time.monotonic() + timeout
        parts = consumer.partitions_for_topic(topic)
        while not parts and time.monotonic() < deadline:
            time.sleep(0.5)
            parts = consumer.partitions_for_topic(topic)
        if not parts:
            return
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        left = {p for p, end in ends.items() if end > 0}
        while left:
            if time.monotonic() > deadline:
                raise CollectError(f"{topic}: not read to its end in {timeout:.0f} s")
            for msg in consumer:
                if msg.offset < ends[msg.partition]:
                    yield msg.partition, msg.offset, msg.key, msg.value
                if msg.offset >= ends[msg.partition] - 1:
                    left.discard(msg.partition)
                if not left:
                    break
    finally:
        consumer.close()


def sent_records(raws: Iterator[Raw]) -> list[SentRecord]:
    """The events topic as the verifier sees it: a user and, for poison, the due reason."""
    out = []
    for partition, offset, key, value in raws:
        user = (key or b"").decode("utf-8", "replace")
        poison = BY_RAW.get(value or b"")
        reason = poison.reason.value if poison is not None else None
        out.append(SentRecord((partition, offset), user, reason))
    return out


def _position(obj: dict[str, Any]) -> Position:
    src = obj["source"]
    return int(src["partition"]), int(src["offset"])


def answers(raws: Iterator[Raw], events_topic: str) -> list[Answer]:
    """Recommendations for the events topic (their ``source`` names the input position)."""
    out = []
    for _, _, _, value in raws:
        rec = orjson.loads(value or b"null")
        if rec["source"]["topic"] != events_topic:
            raise CollectError(f"a recommendation names another topic: {rec['source']}")
        out.append(
            Answer(_position(rec), str(rec["user_id"]), int(rec["event_count"]), rec["replayed"])
        )
    return out


def letters(raws: Iterator[Raw]) -> list[Letter]:
    """Dead letters, by input position and reason."""
    out = []
    for _, _, _, value in raws:
        letter = orjson.loads(value or b"null")
        out.append(Letter(_position(letter), str(letter["reason"])))
    return out


FINAL_FIELDS = ("event_count", "model_version", "items", "buy_probability")


def final_states(port: int, users: list[str]) -> dict[str, dict[str, Any]]:
    """Each user's state over HTTP (any worker forwards to the owner): the fields compared."""
    out: dict[str, dict[str, Any]] = {}
    for user in users:
        for _ in range(10):  # a forward can fail while a partition is still moving
            status, body = http_get(port, f"/users/{user}/recommendations", 10.0)
            if status in (200, 404):
                break
            time.sleep(1.0)
        if status == 200:
            obj = orjson.loads(body)
            out[user] = {k: obj[k] for k in FINAL_FIELDS}
        elif status != 404:
            raise CollectError(
                f"GET /users/{user}/recommendations answered {status}: {body[:200]!r}"
            )
    return out


def count_rebalances(logs: list[Path], group: str) -> int:
    """Distinct consumer-group generations the workers joined (each rebalance makes one).

    Read from aiokafka's INFO line ``Joined group '<group>' (generation N)``; approximate
    when a generation completed while every worker that joined it was killed before logging.
    """
    pattern = re.compile(rf"Joined group '{re.escape(group)}' \(generation (\d+)\)")
    generations: set[int] = set()
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            match = pattern.search(line)
            if match:
                generations.add(int(match.group(1)))
    return len(generations)


def uncommitted(bootstrap: str, group: str, topics: list[str]) -> int:
    """Messages of ``topics`` not yet committed by ``group`` (0: everything is processed)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=split_bootstrap(bootstrap))
    consumer = KafkaConsumer(bootstrap_servers=split_bootstrap(bootstrap), enable_auto_commit=False)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        done = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        ends = consumer.end_offsets(tps)
        return sum(max(0, end - done.get((tp.topic, tp.partition), 0)) for tp, end in ends.items())
    finally:
        consumer.close()
        admin.close()
