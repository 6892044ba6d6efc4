"""Follows the models topic off the hot path: reassembles, verifies and loads new versions.

A background thread owns a group-less consumer of the models topic (every partition assigned,
so every worker sees every record). A promoted version whose chunks are complete is checked
(chunk and archive sha256) and unpacked into ``models_dir/VERSION``; when the history names a
version, the thread loads it (bundle checksums re-verified by :func:`export.bundle.load_bundle`,
ONNX session built and warmed up) and hands the ready model to ``on_ready``. Nothing here
touches the event loop: the caller decides how the swap reaches it (see :mod:`stream.swap`).
A version that fails any check is logged, counted and skipped; the current model keeps serving.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer

from export.errors import ExportError
from stream.distribution import (
    Catalog,
    DistributionError,
    ServingRecord,
    models_consumer,
    records_until_end,
    unpack,
)
from stream.step import ServingModel

log = logging.getLogger(__name__)

Loader = Callable[[Path], ServingModel]
OnReady = Callable[[ServingModel, ServingRecord], None]
OnFailure = Callable[[str, str], None]  # version, reason


class ModelWatcher:
    """Keeps a local copy of every promoted version and reports serving changes."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        models_dir: Path,
        loader: Loader,
        on_failure: OnFailure | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.models_dir = models_dir
        self.loader = loader
        self.on_failure = on_failure
        self.catalog = Catalog()
        self.current: str | None = None
        self._consumer: KafkaConsumer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def bundle_dir(self, version: str) -> Path:
        """Where a version's bundle lives once unpacked."""
        return self.models_dir / version / "bundle"

    def catch_up(self, timeout_s: float = 60.0) -> ServingModel | None:
        """Read the topic up to its end; load and return the serving version (None if none)."""
        self._consumer = models_consumer(self.bootstrap, "streamrec-model-watcher")
        for key, value in records_until_end(self._consumer, self.topic, timeout_s):
            self._fold(key, value, load=False)
        version = self.catalog.serving
        if version is None:
            return None
        model = self._load(version)
        if model is not None:
            self.current = version
        return model

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
                    self._fold(msg.key, msg.value, load=True, on_ready=on_ready)

    def _fold(
        self,
        key: bytes | None,
        value: bytes | None,
        *,
        load: bool,
        on_ready: OnReady | None = None,
    ) -> None:
        named = self.catalog.apply(key, value)
        if named is None or key is None:
            return
        if key.startswith(b"version/"):
            record = self.catalog.versions.get(named)
            if record is not None and record.status == "promoted":
                self._unpack(named)
            elif record is not None:
                log.warning("candidate %s rejected by the trainer: %s", named, record.reason)
            return
        # A history record: switch unless already serving it.
        if not load or named == self.current:
            return
        started = time.perf_counter()
        model = self._load(named)
        if model is None:
            return
        log.warning(
            "model %s ready in %.2f s (was %s)", named, time.perf_counter() - started, self.current
        )
        self.current = named
        if on_ready is not None:
            on_ready(model, self.catalog.history[-1])

    def _unpack(self, version: str) -> None:
        dest = self.models_dir / version
        if (dest / "bundle").is_dir():
            self.catalog.chunks.pop(version, None)
            return
        try:
            archive = self.catalog.archive(version)
        except DistributionError as exc:
            self._fail(version, str(exc))
            return
        finally:
            self.catalog.chunks.pop(version, None)  # memory: the disk copy is the cache
        self.models_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=self.models_dir))
        try:
            unpack(archive, tmp)
            tmp.rename(dest)
        except (DistributionError, OSError) as exc:
            self._fail(version, f"cannot unpack: {exc}")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _load(self, version: str) -> ServingModel | None:
        path = self.bundle_dir(version)
        if not path.is_dir():
            self._fail(version, "bundle not available (missing or failed its checksums)")
            return None
        try:
            return self.loader(path)
        except (ExportError, OSError, ValueError) as exc:
            self._fail(version, f"cannot load: {exc}")
            return None

    def _fail(self, version: str, reason: str) -> None:
        log.error("model %s refused: %s; the current model keeps serving", version, reason)
        if self.on_failure is not None:
            self.on_failure(version, reason)
