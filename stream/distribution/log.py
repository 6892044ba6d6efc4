"""The models topic folded in log order, trusting nothing it reads.

Every record goes through :meth:`Catalog.apply`, which never raises: a record with an unknown
key, a bad version name, a bad chunk index, unreadable or schema-breaking JSON, an oversized
value, a missing or wrong signature, or a replayed serving record is refused, logged, counted
in :attr:`Catalog.refused` (by reason) and reported to ``on_refused`` (the worker's Prometheus
counter), and the fold goes on. Chunks are held in memory only for the versions kept
(the last ``keep_versions`` promoted ones and the serving one) and, bounded, for versions
whose record has not arrived yet.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from streamrec.stream.config.kafka import KafkaConnection
from streamrec.stream.distribution.topic import (
    MAX_MESSAGE_BYTES,
    ServingRecord,
    VersionRecord,
    join_chunks,
    models_consumer,
    records_until_end,
)
from streamrec.stream.distribution.trust import (
    DistributionError,
    Signer,
    TrustConfig,
    UntrustedRecordError,
    check_version,
)

log = logging.getLogger(__name__)

MAX_KEY_BYTES = 256
MAX_RECORD_BYTES = 256 * 1024  # a version record lists one sha256 per chunk
MAX_PENDING_VERSIONS = 4  # versions whose chunks arrived before their record
_CHUNK_INDEX = re.compile(r"[0-9]{6}")
_HISTORY_KEY = re.compile(r"[0-9]{20}")

RefusalHook = Callable[[str, str, str], None]  # reason, key, detail


@dataclass
class Catalog:
    """Everything the models topic says that passed every check, folded in log order.

    Set :attr:`live` once caught up: from then on chunks of versions no longer kept are
    dropped as records arrive (during catch-up the serving version is not known yet).
    """

    trust: TrustConfig = field(default_factory=TrustConfig)
    on_refused: RefusalHook | None = None
    versions: dict[str, VersionRecord] = field(default_factory=dict)
    chunks: dict[str, dict[int, bytes]] = field(default_factory=dict)
    history: list[ServingRecord] = field(default_factory=list)
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    live: bool = False
    _signer: Signer = field(init=False, repr=False)
    _history_keys: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._signer = Signer(self.trust.signing_key)

    @property
    def serving(self) -> str | None:
        """The version workers serve now."""
        return self.history[-1].version if self.history else None

    def apply(self, key: bytes | None, value: bytes | None) -> str | None:
        """Fold one record in; returns the version it announced or named, if any. Never raises."""
        try:
            named = self._apply(key, value)
        except UntrustedRecordError as exc:
            self._refuse(exc.reason, key, str(exc))
            return None
        if self.live:
            self.drop_unkept_chunks()
        return named

    def _refuse(self, reason: str, key: bytes | None, detail: str) -> None:
        shown = repr(key[:80]) if key is not None else "None"
        log.error("models topic: refused record %s: %s", shown, detail)
        self.refused[reason] += 1
        if self.on_refused is not None:
            self.on_refused(reason, shown, detail)

    def _apply(self, key: bytes | None, value: bytes | None) -> str | None:
        if key is None or len(key) > MAX_KEY_BYTES:
            raise UntrustedRecordError("bad-key", "missing or oversized key")
        try:
            text = key.decode("ascii")
        except UnicodeDecodeError:
            raise UntrustedRecordError("bad-key", "key is not ASCII") from None
        kind, _, rest = text.partition("/")
        if value is not None and len(value) > MAX_MESSAGE_BYTES:
            raise UntrustedRecordError("oversized", f"{len(value)}-byte value")
        if kind == "chunk":
            self._chunk(rest, value)
            return None
        if kind == "version":
            return self._version(rest, value)
        if kind == "history":
            return self._history(text, rest, value)
        raise UntrustedRecordError("unknown-key", f"unknown key prefix {kind!r}")

    def _chunk(self, rest: str, value: bytes | None) -> None:
        version, _, index_text = rest.rpartition("/")
        check_version(version)
        if _CHUNK_INDEX.fullmatch(index_text) is None:
            raise UntrustedRecordError("bad-chunk-index", f"chunk index {index_text!r}")
        index = int(index_text)
        if value is None:
            held = self.chunks.get(version)
            if held is not None:
                held.pop(index, None)
                if not held:
                    del self.chunks[version]
            return
        record = self.versions.get(version)
        if record is not None and index >= len(record.chunk_sha256):
            raise UntrustedRecordError("bad-chunk-index", f"{version} has no chunk {index}")
        held = self.chunks.get(version)
        if held is None:
            self._make_room_for_pending(version)
            held = self.chunks[version] = {}
        if sum(map(len, held.values())) + len(value) > self.trust.max_archive_bytes:
            raise UntrustedRecordError("oversized", f"chunks of {version} exceed the archive cap")
        held[index] = value

    def _make_room_for_pending(self, version: str) -> None:
        pending = [v for v in self.chunks if v not in self.versions]
        if version in self.versions or len(pending) < MAX_PENDING_VERSIONS:
            return
        oldest = pending[0]
        del self.chunks[oldest]
        self._refuse("evicted", oldest.encode(), f"chunks of unannounced {oldest} dropped")

    def _version(self, rest: str, value: bytes | None) -> str | None:
        version = check_version(rest)
        if value is None:
            self.versions.pop(version, None)
            self.chunks.pop(version, None)
            return None
        record = _read_record(VersionRecord, value, "version record")
        if record.version != version:
            raise UntrustedRecordError("key-mismatch", f"record names {record.version!r}")
        self._signer.verify(record.signed_bytes(), record.signature)
        if record.archive_bytes > self.trust.max_archive_bytes:
            raise UntrustedRecordError("oversized", f"{record.archive_bytes}-byte archive")
        self.versions.pop(version, None)  # a re-sent version moves to its new place in the log
        self.versions[version] = record
        held = self.chunks.get(version, {})
        for extra in [i for i in held if i >= len(record.chunk_sha256)]:
            del held[extra]
        return version

    def _history(self, text: str, rest: str, value: bytes | None) -> str | None:
        if _HISTORY_KEY.fullmatch(rest) is None:
            raise UntrustedRecordError("bad-key", f"history key {text!r}")
        if value is None:
            return None
        entry = _read_record(ServingRecord, value, "serving record")
        self._signer.verify(entry.signed_bytes(text.encode()), entry.signature)
        check_version(entry.version)
        if text in self._history_keys:
            raise UntrustedRecordError("replayed", f"serving record {text} seen before")
        self._history_keys.add(text)
        self.history.append(entry)
        return entry.version

    # --- retention -----------------------------------------------------------------------------
    def kept(self) -> set[str]:
        """Versions whose archives are kept: the last ``keep_versions`` promoted and serving."""
        promoted = [v for v, r in self.versions.items() if r.status == "promoted"]
        keep = set(promoted[-self.trust.keep_versions :])
        if self.serving is not None:
            keep.add(self.serving)
        return keep

    def prunable(self, newest: VersionRecord | None = None) -> list[VersionRecord]:
        """Records older than the last ``keep_versions`` promoted ones, never the serving one.

        ``newest`` is a version just published and made serving, which this catalog may not
        have read back yet (its own serving version may lag behind: not protected then).
        """
        order = dict(self.versions)
        if newest is not None:
            order.pop(newest.version, None)
            order[newest.version] = newest
        promoted = [v for v, r in order.items() if r.status == "promoted"]
        if len(promoted) <= self.trust.keep_versions:
            return []
        cutoff = list(order).index(promoted[-self.trust.keep_versions])
        serving = newest.version if newest is not None else self.serving
        return [r for v, r in list(order.items())[:cutoff] if v != serving]

    def drop_unkept_chunks(self) -> None:
        """Bound memory: keep chunks of kept versions and of versions not announced yet."""
        keep = self.kept()
        for version in [v for v in self.chunks if v in self.versions and v not in keep]:
            del self.chunks[version]

    def archive(self, version: str) -> bytes:
        """The verified archive of a promoted version."""
        record = self.versions.get(version)
        if record is None or record.status != "promoted":
            raise DistributionError(f"no promoted version {version!r} on the models topic")
        return join_chunks(record, self.chunks.get(version, {}))


def read_catalog(
    kafka: KafkaConnection,
    topic: str,
    timeout_s: float = 60.0,
    trust: TrustConfig | None = None,
) -> Catalog:
    """The catalog as of now (reads the whole compacted topic)."""
    consumer = models_consumer(kafka, "streamrec-models-reader")
    catalog = Catalog(trust or TrustConfig())
    try:
        for key, value in records_until_end(consumer, topic, timeout_s):
            catalog.apply(key, value)
    finally:
        consumer.close()
    return catalog


_R = TypeVar("_R", bound=BaseModel)


def _read_record(model: type[_R], value: bytes, what: str) -> _R:
    """A size-capped, schema-checked record of the models topic (refused otherwise)."""
    if len(value) > MAX_RECORD_BYTES:
        raise UntrustedRecordError("oversized", f"{len(value)}-byte {what}")
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        raise UntrustedRecordError("bad-record", f"unreadable {what}: {exc}") from None
