"""Plain Kafka clients for people and scripts: publish event files, follow recommendations."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streamrec.models.data.events import Event
from streamrec.stream.config.settings import Settings

log = logging.getLogger(__name__)

SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


def event_payload(e: Event, event_id: str | None = None) -> bytes:
    """The wire form of a model-side :class:`Event` (ts in seconds)."""
    from streamrec.stream.records.schemas import encode_event

    action = e.action.name.lower()
    return encode_event(
        e.user_id, e.item_id, action, e.ts, session_id=e.session_id, event_id=event_id
    )


def read_events(path: Path, fmt: str | None) -> list[Event]:
    """Events of a file in any format of the loaders (inferred from the suffix)."""
    from streamrec.models.data.loaders import load_events

    chosen = fmt or SUFFIX_FORMATS.get(path.suffix.lower())
    if chosen is None:
        raise ValueError(f"cannot infer the format of {path}; pass --format")
    events, report = load_events(path, chosen)  # type: ignore[arg-type]
    log.info("read %d events from %s (%s)", len(events), path, report)
    return events


def producer(settings: Settings, linger_ms: int = 5) -> KafkaProducer:
    """A producer whose default partitioner matches the worker's (murmur2 on the key).

    ``acks=all`` with kafka-python's idempotence: a retried batch is written once, and a
    record counts as sent only once every in-sync replica has it.
    """
    return KafkaProducer(
        **settings.kafka.kafka_python(),
        linger_ms=linger_ms,
        acks="all",
        batch_size=64 * 1024,
        client_id=settings.client_id("publisher"),
    )


class RateLimiter:
    """Paces a loop to ``rate`` iterations per second (0 = unlimited), in small bursts."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.perf_counter()
        self.count = 0

    def wait(self, n: int = 1) -> None:
        """Account for ``n`` more items and sleep if ahead of schedule."""
        self.count += n
        if self.rate <= 0:
            return
        ahead = self.count / self.rate - (time.perf_counter() - self.start)
        if ahead > 0.001:
            time.sleep(ahead)


def publish(
    settings: Settings,
    payloads: Iterable[tuple[bytes, bytes]],
    rate: float = 0.0,
    total: int | None = None,
    progress: bool = True,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Send ``(key, value)`` pairs to the events topic at ``rate`` per second; return the count."""
    from tqdm import tqdm

    prod = producer(settings)
    prod.partitions_for(settings.events_topic)  # metadata now: the first send would wait for it
    limiter = RateLimiter(rate)
    sent = 0
    bar = tqdm(total=total, unit="ev", disable=not progress, smoothing=0.1)
    try:
        for key, value in payloads:
            prod.send(settings.events_topic, key=key, value=value)
            sent += 1
            if on_sent is not None:
                on_sent(sent)
            limiter.wait(1)  # paced per event: bursts of 100 showed up as latency
            if sent % 100 == 0:
                bar.update(100)
        bar.update(sent % 100)
        prod.flush()
    finally:
        bar.close()
        prod.close()
    return sent


def _wait_for_topic(consumer: KafkaConsumer, topic: str, timeout_s: float | None) -> set[int]:
    """The topic's partitions once it exists (a worker creates it on start); empty on timeout."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    told = False
    while True:
        parts: set[int] = consumer.partitions_for_topic(topic) or set()
        if parts:
            return parts
        if deadline is not None and time.monotonic() >= deadline:
            log.warning("topic %s does not exist (no worker has created it yet)", topic)
            return set()
        if not told:
            log.warning("waiting for topic %s to be created (by the first worker's start)", topic)
            told = True
        time.sleep(1.0)


def follow(
    settings: Settings,
    topic: str,
    from_beginning: bool = False,
    idle_timeout_s: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield records of ``topic`` (all partitions, no consumer group) as they arrive.

    A topic that does not exist yet is waited for (``idle_timeout_s`` bounds the wait too).
    """
    consumer = KafkaConsumer(
        **settings.kafka.kafka_python(),
        enable_auto_commit=False,
        client_id=settings.client_id("subscriber"),
        consumer_timeout_ms=int(idle_timeout_s * 1000) if idle_timeout_s else float("inf"),
    )
    try:
        parts = _wait_for_topic(consumer, topic, idle_timeout_s)
        if not parts:
            return
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        for msg in consumer:
            try:
                yield orjson.loads(msg.value)
            except orjson.JSONDecodeError:
                log.warning("skipping a non-JSON record at %s:%d", msg.partition, msg.offset)
    finally:
        consumer.close()


def format_recommendation(rec: dict[str, Any]) -> str:
    """One line per recommendation for people."""
    items = " ".join(str(i["item_id"]) for i in rec.get("items", [])[:10])
    src = rec.get("source", {})
    return (
        f"user={rec.get('user_id')} n={rec.get('event_count')} "
        f"buy={rec.get('buy_probability', 0.0):.2f} model={rec.get('model_version')} "
        f"@{src.get('partition')}:{src.get('offset')} -> {items}"
    )


def worker_metric(port: int, name: str, host: str = "127.0.0.1") -> float:
    """Sum of every sample named ``name`` on a worker's ``/metrics`` (0.0 when unreachable)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
    except OSError:
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name
    )
