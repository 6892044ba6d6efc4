"""Model distribution through a compacted Kafka topic: chunked, checksummed bundles and history.

One single-partition, compacted topic carries everything, so every worker can rebuild the
catalog by reading it from the start, and ordering is total:

- ``chunk/{version}/{i:06d}``: the ``i``-th slice of the version's archive (a tar of the bundle
  directory plus the checkpoint the trainer warm-starts from);
- ``version/{version}``: a :class:`VersionRecord` (status promoted or rejected, reason, gate
  metrics, archive size and sha256, chunk count and each chunk's sha256), sent after its chunks;
- ``history/{ns:020d}``: a :class:`ServingRecord`, the version every worker must serve from now
  on (promotion, rollback, bootstrap). The last one in the log is the serving version.

Keys are unique per version, so compaction only removes superseded duplicates (a re-sent
version) and tombstones of pruned versions; a rejected version carries no chunks. After each
promotion the publisher tombstones the versions older than the last ``keep_versions`` (never
the serving one), so the topic stays bounded.

Version and serving records are signed when a key is configured
(:mod:`streamrec.stream.distribution.trust`); archives are written and read by
:mod:`streamrec.stream.distribution.archive`; readers fold the topic with
:class:`streamrec.stream.distribution.log.Catalog`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import BaseModel, ConfigDict

from streamrec.stream.config.kafka import KafkaConnection
from streamrec.stream.config.topics import MODELS_MAX_MESSAGE_BYTES, create_topics, models_topic
from streamrec.stream.distribution.archive import BUNDLE_DIR, CHECKPOINT_NAME, pack, unpack
from streamrec.stream.distribution.trust import DistributionError, Signer, canonical, check_version

log = logging.getLogger(__name__)

CHUNK_BYTES = 512 * 1024
MAX_MESSAGE_BYTES = MODELS_MAX_MESSAGE_BYTES

__all__ = [
    "BUNDLE_DIR",
    "CHECKPOINT_NAME",
    "CHUNK_BYTES",
    "MAX_MESSAGE_BYTES",
    "DistributionError",
    "ModelPublisher",
    "ServingRecord",
    "VersionRecord",
    "chunk_key",
    "ensure_models_topic",
    "history_key",
    "join_chunks",
    "models_consumer",
    "pack",
    "records_until_end",
    "sha256",
    "split_chunks",
    "unpack",
    "version_key",
]


class VersionRecord(BaseModel):
    """What the trainer says about one candidate version."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: str
    parent: str | None = None
    status: Literal["promoted", "rejected"]
    reason: str = ""
    created: float  # Unix seconds
    gate: dict[str, Any] = {}
    archive_sha256: str = ""
    archive_bytes: int = 0
    chunk_sha256: list[str] = []
    signature: str = ""

    def signed_bytes(self) -> bytes:
        """What the signature covers: its topic key and every other field."""
        key = version_key(self.version).encode()
        return canonical("version", key, self.model_dump(exclude={"signature"}))

    def signed(self, signer: Signer) -> VersionRecord:
        """A copy signed by ``signer`` (unchanged without a key)."""
        return self.model_copy(update={"signature": signer.sign(self.signed_bytes())})

    def to_json(self) -> bytes:
        """Wire form."""
        return orjson.dumps(self.model_dump())


class ServingRecord(BaseModel):
    """One entry of the promotion history: from ``at`` on, serve ``version``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: str
    cause: Literal["promotion", "rollback", "bootstrap"]
    at: float  # Unix seconds
    signature: str = ""

    def signed_bytes(self, topic_key: bytes) -> bytes:
        """What the signature covers: the record's topic key and every other field."""
        return canonical("serving", topic_key, self.model_dump(exclude={"signature"}))

    def signed(self, signer: Signer, topic_key: bytes) -> ServingRecord:
        """A copy signed under ``topic_key`` (unchanged without a key)."""
        return self.model_copy(update={"signature": signer.sign(self.signed_bytes(topic_key))})

    def to_json(self) -> bytes:
        """Wire form."""
        return orjson.dumps(self.model_dump())


def version_key(version: str) -> str:
    """Topic key of a version record."""
    return f"version/{version}"


def chunk_key(version: str, index: int) -> str:
    """Topic key of a version's ``index``-th chunk."""
    return f"chunk/{version}/{index:06d}"


def history_key(ns: int) -> str:
    """Topic key of a serving record made at ``ns`` (Unix nanoseconds)."""
    return f"history/{ns:020d}"


def split_chunks(archive: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    """The archive in slices of at most ``size`` bytes."""
    return [archive[i : i + size] for i in range(0, len(archive), size)] or [b""]


def sha256(data: bytes) -> str:
    """Hex sha256."""
    return hashlib.sha256(data).hexdigest()


def join_chunks(record: VersionRecord, chunks: dict[int, bytes]) -> bytes:
    """Reassemble and verify a version's archive (every chunk, then the whole)."""
    n = len(record.chunk_sha256)
    missing = [i for i in range(n) if i not in chunks]
    if missing:
        raise DistributionError(f"{record.version}: {len(missing)} of {n} chunks missing")
    for i, expected in enumerate(record.chunk_sha256):
        if sha256(chunks[i]) != expected:
            raise DistributionError(f"{record.version}: chunk {i} fails its checksum")
    archive = b"".join(chunks[i] for i in range(n))
    if len(archive) != record.archive_bytes or sha256(archive) != record.archive_sha256:
        raise DistributionError(f"{record.version}: archive fails its checksum")
    return archive


def ensure_models_topic(
    kafka: KafkaConnection, topic: str, replication: int = 1, min_insync: int | None = None
) -> None:
    """Create the models topic when missing (declared in :mod:`streamrec.stream.config.topics`)."""
    spec = models_topic(topic, replication, min_insync)
    create_topics(kafka, [spec], "streamrec-models")


class ModelPublisher:
    """Writes versions, rejections, serving changes and retention tombstones to the topic.

    With a ``signer`` holding a key every version and serving record is signed; names are
    checked before anything is sent.
    """

    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        chunk_bytes: int = CHUNK_BYTES,
        signer: Signer | None = None,
    ) -> None:
        self.topic = topic
        self.chunk_bytes = chunk_bytes
        self.signer = signer or Signer(None)
        self.producer = KafkaProducer(
            **kafka.kafka_python(),
            acks="all",
            max_request_size=MAX_MESSAGE_BYTES,
            client_id="streamrec-model-publisher",
        )

    def close(self) -> None:
        """Flush and close."""
        self.producer.flush()
        self.producer.close()

    def _send(self, key: str, value: bytes | None) -> None:
        self.producer.send(self.topic, key=key.encode(), value=value)

    def publish_version(
        self,
        bundle_dir: Path,
        checkpoint: Path | None,
        *,
        version: str,
        parent: str | None,
        reason: str,
        gate: dict[str, Any],
    ) -> VersionRecord:
        """Send the chunks, then the promoted version record (not yet serving)."""
        check_version(version)
        archive = pack(bundle_dir, checkpoint)
        chunks = split_chunks(archive, self.chunk_bytes)
        for i, chunk in enumerate(chunks):
            self._send(chunk_key(version, i), chunk)
        record = VersionRecord(
            version=version,
            parent=parent,
            status="promoted",
            reason=reason,
            created=time.time(),
            gate=gate,
            archive_sha256=sha256(archive),
            archive_bytes=len(archive),
            chunk_sha256=[sha256(c) for c in chunks],
        ).signed(self.signer)
        self._send(version_key(version), record.to_json())
        self.producer.flush()
        log.info("published %s: %d bytes in %d chunks", version, len(archive), len(chunks))
        return record

    def reject(
        self, version: str, parent: str | None, reason: str, gate: dict[str, Any]
    ) -> VersionRecord:
        """Announce a refused candidate (no chunks)."""
        check_version(version)
        record = VersionRecord(
            version=version,
            parent=parent,
            status="rejected",
            reason=reason,
            created=time.time(),
            gate=gate,
        ).signed(self.signer)
        self._send(version_key(version), record.to_json())
        self.producer.flush()
        return record

    def serve(self, version: str, cause: Literal["promotion", "rollback", "bootstrap"]) -> None:
        """Make ``version`` the serving one (every worker switches to it)."""
        check_version(version)
        key = history_key(time.time_ns())
        entry = ServingRecord(version=version, cause=cause, at=time.time())
        self._send(key, entry.signed(self.signer, key.encode()).to_json())
        self.producer.flush()

    def tombstone(self, records: Sequence[VersionRecord]) -> None:
        """Delete versions from the compacted topic: their chunks, then their records."""
        for record in records:
            for i in range(len(record.chunk_sha256)):
                self._send(chunk_key(record.version, i), None)
            self._send(version_key(record.version), None)
        if records:
            self.producer.flush()
            log.warning("pruned %d old versions from %s", len(records), self.topic)


def models_consumer(kafka: KafkaConnection, client_id: str) -> KafkaConsumer:
    """A group-less consumer (every reader sees every record)."""
    return KafkaConsumer(
        **kafka.kafka_python(),
        enable_auto_commit=False,
        group_id=None,
        client_id=client_id,
        fetch_max_bytes=8 * MAX_MESSAGE_BYTES,
        max_partition_fetch_bytes=2 * MAX_MESSAGE_BYTES,
    )


def records_until_end(
    consumer: KafkaConsumer, topic: str, timeout_s: float = 30.0
) -> Iterator[tuple[bytes | None, bytes | None]]:
    """Assign every partition from the start and yield records up to the current end."""
    parts = consumer.partitions_for_topic(topic)
    deadline = time.monotonic() + timeout_s
    while not parts and time.monotonic() < deadline:
        time.sleep(0.2)
        parts = consumer.partitions_for_topic(topic)
    if not parts:
        raise DistributionError(f"models topic {topic} does not exist")
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    while any(consumer.position(tp) < end[tp] for tp in tps):
        if time.monotonic() > deadline:
            raise DistributionError(f"timed out reading {topic}")
        for batch in consumer.poll(timeout_ms=500).values():
            for msg in batch:
                yield msg.key, msg.value
