"""Follows the models topic off the hot path: verifies, unpacks and loads the serving version.

A background thread owns a group-less consumer of the models topic (every partition assigned,
so every worker sees every record) and folds every record into a :class:`Catalog`, which
refuses and counts anything untrusted (bad names, signatures, schemas, sizes). Only the
version the history names is unpacked (safely, all or nothing) into ``models_dir/VERSION`` and
loaded (bundle checksums re-verified by :func:`streamrec.export.bundle.load_bundle`, ONNX session
built and warmed up), then handed to ``on_ready``; archives of other kept versions stay in memory
for a rollback, older ones are dropped from memory and disk. Nothing here touches the event loop:
the caller decides how the swap reaches it (see :mod:`streamrec.stream.distribution.swap`). A
version that fails any check is logged, counted and skipped; the current model keeps serving, and at
start a worker falls back to the last good version in the history.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from kafka import KafkaConsumer

from streamrec.export.errors import ExportError
from streamrec.models.data.vocab import Vocabulary
from streamrec.stream.config.kafka import KafkaConnection
from streamrec.stream.distribution.archive import ArchiveLimits, read_member, unpack
from streamrec.stream.distribution.log import Catalog
from streamrec.stream.distribution.topic import (
    BUNDLE_DIR,
    ServingRecord,
    models_consumer,
    records_until_end,
)
from streamrec.stream.distribution.trust import DistributionError, TrustConfig, is_valid_version
from streamrec.stream.serving.model import RowIds, ServingModel

log = logging.getLogger(__name__)

VOCAB_MEMBER = f"{BUNDLE_DIR}/vocab.json"

Loader = Callable[[Path], ServingModel]
OnReady = Callable[[ServingModel, ServingRecord], None]
OnFailure = Callable[[str, str], None]  # version, reason


class ModelWatcher:
    """Keeps the serving version loaded and reports serving changes."""

    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        models_dir: Path,
        loader: Loader,
        on_failure: OnFailure | None = None,
        trust: TrustConfig | None = None,
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.models_dir = models_dir
        self.loader = loader
        self.on_failure = on_failure
        self.trust = trust or TrustConfig()
        self.limits = ArchiveLimits(self.trust.max_archive_bytes, self.trust.max_archive_bytes)
        self.catalog = Catalog(self.trust)
        self.current: str | None = None
        self.errors = 0  # records whose handling raised unexpectedly (logged, skipped)
        self._consumer: KafkaConsumer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def bundle_dir(self, version: str) -> Path:
        """Where a version's bundle lives once unpacked."""
        return self.models_dir / version / BUNDLE_DIR

    def catch_up(self, timeout_s: float = 60.0) -> ServingModel | None:
        """Read the topic up to its end; load and return the last good serving version.

        None when no announced version loads (the caller serves its local bundle).
        """
        self._consumer = models_consumer(self.kafka, "streamrec-model-watcher")
        for key, value in records_until_end(self._consumer, self.topic, timeout_s):
            self.catalog.apply(key, value)
        self.catalog.live = True
        model = self._last_good()
        self._prune()
        return model

    def _last_good(self) -> ServingModel | None:
        tried: list[str] = []
        for entry in reversed(self.catalog.history):
            if entry.version in tried:
                continue
            if len(tried) > self.trust.keep_versions:
                break
            tried.append(entry.version)
            model = self._prepare(entry.version)
            if model is None:
                continue
            if tried[0] != entry.version:
                log.error("serving %s: the announced %s is refused", entry.version, tried[0])
            self.current = entry.version
            for version in self.catalog.kept() - {entry.version}:
                ids = self.row_ids(version)
                if ids is not None:
                    model.remember(version, ids)
            return model
        return None

    def row_ids(self, version: str) -> RowIds | None:
        """Row -> external id of a kept version's vocabulary (to re-encode its users' states)."""
        try:
            path = self.bundle_dir(version) / "vocab.json"
            if path.is_file():
                data: bytes | None = path.read_bytes()
            else:
                data = read_member(self.catalog.archive(version), VOCAB_MEMBER, self.limits)
            if data is None:
                return None
            vocab = Vocabulary.from_json(data)
        except (DistributionError, OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("no vocabulary of %s to re-encode its states with: %s", version, exc)
            return None
        return np.array(["", "", *vocab.ids], dtype=object)

    def start(self, on_ready: OnReady) -> None:
        """Follow new records in a daemon thread (call :meth:`catch_up` first)."""
        if self._consumer is None:
            raise RuntimeError("catch_up() must run before start()")
        self._thread = threading.Thread(
            target=self._run, args=(on_ready,), name="model-watcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the consumer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._consumer is not None:
            self._consumer.close()

    def _run(self, on_ready: OnReady) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            try:
                polled = self._consumer.poll(timeout_ms=200)
            except Exception:  # the thread must survive broker hiccups; kafka raises many types
                log.exception("models topic poll failed; retrying")
                time.sleep(1.0)
                continue
            for batch in polled.values():
                for msg in batch:
                    try:
                        self._fold(msg.key, msg.value, on_ready)
                    except Exception as exc:  # no record may end the thread; loaders raise many
                        self.errors += 1
                        self._fail(self.current or "?", f"record at offset {msg.offset}: {exc!r}")

    def _fold(self, key: bytes | None, value: bytes | None, on_ready: OnReady) -> None:
        named = self.catalog.apply(key, value)
        if key is not None and value is None:
            self._prune()
        if named is None or key is None:
            return
        if key.startswith(b"version/"):
            record = self.catalog.versions.get(named)
            if record is not None and record.status == "rejected":
                log.warning("candidate %s rejected by the trainer: %s", named, record.reason)
            return
        # A history record: switch unless already serving it.
        if named == self.current:
            return
        started = time.perf_counter()
        model = self._prepare(named)
        if model is None:
            return
        log.warning(
            "model %s ready in %.2f s (was %s)", named, time.perf_counter() - started, self.current
        )
        self.current = named
        on_ready(model, self.catalog.history[-1])
        self._prune()

    def _prepare(self, version: str) -> ServingModel | None:
        """The version unpacked (if not yet) and loaded; None when refused (counted)."""
        if not is_valid_version(version):
            self._fail(version, "invalid version name")
            return None
        dest = self.models_dir / version
        if not (dest / BUNDLE_DIR).is_dir():
            try:
                archive = self.catalog.archive(version)
                if dest.exists():
                    shutil.rmtree(dest)
                unpack(archive, dest, self.limits)
            except (DistributionError, OSError) as exc:
                self._fail(version, f"cannot unpack: {exc}")
                return None
        try:
            return self.loader(dest / BUNDLE_DIR)
        except (ExportError, OSError, ValueError, RuntimeError) as exc:
            self._fail(version, f"cannot load: {exc}")
            return None

    def _prune(self) -> None:
        """Free memory and disk: only kept versions, and archives not already on disk."""
        keep = self.catalog.kept() | ({self.current} if self.current else set())
        for version in list(self.catalog.chunks):
            if (self.bundle_dir(version)).is_dir():
                del self.catalog.chunks[version]
        if not self.models_dir.is_dir():
            return
        for path in self.models_dir.iterdir():
            if path.is_dir() and is_valid_version(path.name) and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def _fail(self, version: str, reason: str) -> None:
        log.error("model %s refused: %s; the current model keeps serving", version, reason)
        if self.on_failure is not None:
            self.on_failure(version, reason)
