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
version) and tombstones of pruned versions; a rejected version carries no chunks.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)

CHUNK_BYTES = 512 * 1024
CHECKPOINT_NAME = "checkpoint.pt"
BUNDLE_DIR = "bundle"
MAX_MESSAGE_BYTES = 2 * 1024 * 1024


class DistributionError(RuntimeError):
    """A version cannot be published, found or reassembled intact."""


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

    def to_json(self) -> bytes:
        """Wire form."""
        return orjson.dumps(self.model_dump())


class ServingRecord(BaseModel):
    """One entry of the promotion history: from ``at`` on, serve ``version``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: str
    cause: Literal["promotion", "rollback", "bootstrap"]
    at: float  # Unix seconds

    def to_json(self) -> bytes:
        """Wire form."""
        return orjson.dumps(self.model_dump())


def pack(bundle_dir: Path, checkpoint: Path | None) -> bytes:
    """A deterministic tar of the bundle's files (under ``bundle/``) and the checkpoint."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = [(p, f"{BUNDLE_DIR}/{p.name}") for p in sorted(bundle_dir.iterdir()) if p.is_file()]
        if checkpoint is not None:
            files.append((checkpoint, CHECKPOINT_NAME))
        for path, name in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack(archive: bytes, dest: Path) -> Path:
    """Extract an archive made by :func:`pack` into ``dest``; returns the bundle directory."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if not member.isfile() or name.is_absolute() or ".." in name.parts:
                raise DistributionError(f"unexpected archive member {member.name!r}")
            extracted = tar.extractfile(member)
            if extracted is None:
                raise DistributionError(f"unreadable archive member {member.name!r}")
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(extracted.read())
    return dest / BUNDLE_DIR


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


def ensure_models_topic(bootstrap: str, topic: str, replication: int = 1) -> None:
    """Create the compacted single-partition models topic when missing."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="streamrec-models")
    try:
        admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=1,
                    replication_factor=replication,
                    topic_configs={
                        "cleanup.policy": "compact",
                        "max.message.bytes": str(MAX_MESSAGE_BYTES),
                        "min.compaction.lag.ms": "60000",
                    },
                )
            ]
        )
        log.info("created models topic %s", topic)
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


class ModelPublisher:
    """Writes versions, rejections and serving changes to the models topic."""

    def __init__(self, bootstrap: str, topic: str, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.topic = topic
        self.chunk_bytes = chunk_bytes
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
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
        archive = pack(bundle_dir, checkpoint)
        chunks = split_chunks(archive, self.chunk_bytes)
        for i, chunk in enumerate(chunks):
            self._send(f"chunk/{version}/{i:06d}", chunk)
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
        )
        self._send(f"version/{version}", record.to_json())
        self.producer.flush()
        log.info("published %s: %d bytes in %d chunks", version, len(archive), len(chunks))
        return record

    def reject(
        self, version: str, parent: str | None, reason: str, gate: dict[str, Any]
    ) -> VersionRecord:
        """Announce a refused candidate (no chunks)."""
        record = VersionRecord(
            version=version,
            parent=parent,
            status="rejected",
            reason=reason,
            created=time.time(),
            gate=gate,
        )
        self._send(f"version/{version}", record.to_json())
        self.producer.flush()
        return record

    def serve(self, version: str, cause: Literal["promotion", "rollback", "bootstrap"]) -> None:
        """Make ``version`` the serving one (every worker switches to it)."""
        entry = ServingRecord(version=version, cause=cause, at=time.time())
        self._send(f"history/{time.time_ns():020d}", entry.to_json())
        self.producer.flush()


@dataclass
class Catalog:
    """Everything the models topic says, folded in log order."""

    versions: dict[str, VersionRecord] = field(default_factory=dict)
    chunks: dict[str, dict[int, bytes]] = field(default_factory=dict)
    history: list[ServingRecord] = field(default_factory=list)

    @property
    def serving(self) -> str | None:
        """The version workers serve now."""
        return self.history[-1].version if self.history else None

    def apply(self, key: bytes | None, value: bytes | None) -> str | None:
        """Fold one record in; returns the version it completed or named, if any."""
        if key is None:
            return None
        k = key.decode(errors="replace")
        kind, _, rest = k.partition("/")
        try:
            if kind == "chunk":
                version, _, index = rest.rpartition("/")
                if value is None:
                    self.chunks.pop(version, None)
                else:
                    self.chunks.setdefault(version, {})[int(index)] = value
                return None
            if kind == "version":
                if value is None:
                    self.versions.pop(rest, None)
                    return None
                record = VersionRecord.model_validate_json(value)
                self.versions[record.version] = record
                return record.version
            if kind == "history" and value is not None:
                entry = ServingRecord.model_validate_json(value)
                self.history.append(entry)
                return entry.version
        except (ValidationError, ValueError) as exc:
            log.warning("ignoring unreadable models-topic record %r: %s", k, exc)
        return None

    def archive(self, version: str) -> bytes:
        """The verified archive of a promoted version."""
        record = self.versions.get(version)
        if record is None or record.status != "promoted":
            raise DistributionError(f"no promoted version {version!r} on the models topic")
        return join_chunks(record, self.chunks.get(version, {}))


def models_consumer(bootstrap: str, client_id: str) -> KafkaConsumer:
    """A group-less consumer (every reader sees every record)."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
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


def read_catalog(bootstrap: str, topic: str, timeout_s: float = 60.0) -> Catalog:
    """The catalog as of now (reads the whole compacted topic)."""
    consumer = models_consumer(bootstrap, "streamrec-models-reader")
    catalog = Catalog()
    try:
        for key, value in records_until_end(consumer, topic, timeout_s):
            catalog.apply(key, value)
    finally:
        consumer.close()
    return catalog
