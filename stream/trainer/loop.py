"""The online trainer: one active instance per deployment fine-tunes, gates and promotes.

**Single active instance.** Every trainer joins the consumer group ``{app_id}-trainer`` on a
single-partition lease topic; the group gives that one partition to one member, and only the
member holding it acts. A standby takes over within the session timeout when the holder dies.

**Round.** Events (read group-less from every partition of the events topic, starting
``window_s`` back) fill a bounded :class:`streamrec.stream.trainer.window.ReplayWindow`. Every
``train_every_s`` seconds or ``train_every_events`` events, the serving checkpoint is
fine-tuned on the window minus its newest slice (:mod:`streamrec.models.training.online`), gated on
that slice (:mod:`streamrec.models.training.gate`), exported and verified; a promoted candidate is
published to the models topic and made serving, a refused one is announced with its reason.

**Trust and retention.** The trainer reads the models topic like a worker (every record
checked, bad ones refused and counted in its catalog, never fatal) and signs what it
publishes when a key is configured. After a promotion it tombstones the versions older than
the last ``models_keep_versions`` promoted ones (never the serving one) and deletes their local
copies; its in-memory chunk cache holds only the kept versions.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streamrec.models.data.events import Event
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.training.gate import GateConfig, gate
from streamrec.models.training.online import FineTuneConfig, fine_tune
from streamrec.stream.config.topics import create_topics, lease_topic
from streamrec.stream.config.trainer_settings import TrainerSettings
from streamrec.stream.distribution.archive import ArchiveLimits, unpack
from streamrec.stream.distribution.log import Catalog as ModelCatalog
from streamrec.stream.distribution.topic import (
    ModelPublisher,
    VersionRecord,
    ensure_models_topic,
    models_consumer,
    records_until_end,
)
from streamrec.stream.distribution.trust import DistributionError, Signer, TrustConfig
from streamrec.stream.records.parsing import parse_event
from streamrec.stream.records.schemas import EventLimits, InvalidEventError, Source
from streamrec.stream.trainer.candidate import real_inputs, verify_bundle
from streamrec.stream.trainer.metrics import TrainerMetrics, TrainerStatus
from streamrec.stream.trainer.window import ReplayWindow, WindowLimits
from streamrec.stream.transport.access import check_access

log = logging.getLogger(__name__)

CandidateHook = Callable[[Checkpoint], Checkpoint]  # tests poison candidates through these
BundleHook = Callable[[Path], None]


@dataclass
class RoundResult:
    """What one fine-tuning round decided."""

    version: str
    promoted: bool
    reason: str
    gate: dict[str, Any]
    seconds: float


def stream_event(raw: bytes | None, source: Source, limits: EventLimits) -> Event | None:
    """A models-side event from a wire message; None for anything invalid (workers DLQ it).

    ``limits`` are the deployment's (the workers' too), so both accept the same events.
    """
    try:
        ev = parse_event(raw, source, limits, time.time())
    except InvalidEventError:
        return None
    return Event(ev.user_id, ev.item_id, ev.action, ev.ts, ev.session_id)


class Trainer:
    """The trainer's state and its loop (see the module docstring)."""

    def __init__(
        self,
        settings: TrainerSettings,
        candidate_hook: CandidateHook | None = None,
        bundle_hook: BundleHook | None = None,
        metrics: TrainerMetrics | None = None,
    ) -> None:
        self.s = settings
        self.window = ReplayWindow(WindowLimits(settings.window_events, settings.window_s))
        self.candidate_hook = candidate_hook
        self.bundle_hook = bundle_hook
        self.trust = TrustConfig.from_settings(settings)
        self.catalog = ModelCatalog(self.trust)
        self.serving_version: str | None = None
        self.unusable: set[str] = set()  # serving versions whose checkpoint could not be read
        self.serving: Checkpoint | None = None
        self.rounds: list[RoundResult] = []
        self.new_events = 0
        self.last_round = time.monotonic()
        self._lease: KafkaConsumer | None = None
        self._events: KafkaConsumer | None = None
        self._models: KafkaConsumer | None = None
        self._publisher: ModelPublisher | None = None
        self.metrics = metrics or TrainerMetrics()
        self.status = TrainerStatus()

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create topics, join the lease group, read the models topic, attach to the events."""
        s = self.s
        check_access(s.kafka)
        ensure_models_topic(s.kafka, s.models_topic, s.replication, s.min_insync_replicas)
        create_topics(s.kafka, [lease_topic(s)], s.client_id("trainer"))
        self._publisher = ModelPublisher(
            s.kafka, s.models_topic, signer=Signer(self.trust.signing_key)
        )
        self._lease = KafkaConsumer(
            **s.kafka.kafka_python(),
            group_id=s.lease_group,
            client_id="streamrec-trainer",
            enable_auto_commit=False,
            session_timeout_ms=int(s.session_timeout_s * 1000),
            heartbeat_interval_ms=int(s.session_timeout_s * 1000 / 3),
            max_poll_interval_ms=3_600_000,  # a round may take minutes between polls
        )
        self._lease.subscribe([s.lease_topic])
        self._models = models_consumer(s.kafka, "streamrec-trainer-models")
        for key, value in records_until_end(self._models, s.models_topic):
            self.catalog.apply(key, value)
        self.catalog.live = True
        self.catalog.drop_unkept_chunks()
        self._events = KafkaConsumer(
            **s.kafka.kafka_python(),
            group_id=None,
            enable_auto_commit=False,
            client_id="streamrec-trainer-events",
        )
        self.status.ready = True

    def close(self) -> None:
        """Leave the group (a standby takes over at once) and close every client."""
        for client in (self._lease, self._events, self._models):
            if client is not None:
                client.close()
        if self._publisher is not None:
            self._publisher.close()

    @property
    def active(self) -> bool:
        """Whether this instance holds the lease (poll it first)."""
        return bool(self._lease is not None and self._lease.assignment())

    def run(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Poll, fill the window, run rounds when due; until ``stop()`` is true."""
        was_active = False
        while not stop():
            assert self._lease is not None
            self.metrics.beat(self.status, was_active, self.serving_version)
            self._lease.poll(timeout_ms=0 if was_active else int(self.s.poll_s * 1000))
            if not self.active:
                if was_active:
                    log.warning("trainer lease lost; standing by")
                was_active = False
                continue
            if not was_active:
                log.warning("trainer lease acquired; this instance trains")
                self.take_over()
                was_active = True
            self.poll_once()
            if self.due():
                self.run_round()

    # --- pieces (public so tests and the benchmark drive them step by step) ------------------
    def take_over(self) -> None:
        """Load the serving checkpoint (or bootstrap one) and start the events `window_s` back."""
        self.sync_models()
        if self.serving is None and self.s.checkpoint is not None:
            self.bootstrap(Checkpoint.load(self.s.checkpoint))
        assert self._events is not None
        parts = self._events.partitions_for_topic(self.s.events_topic) or set()
        tps = [TopicPartition(self.s.events_topic, p) for p in sorted(parts)]
        self._events.assign(tps)
        since_ms = int((time.time() - self.s.window_s) * 1000)
        found = self._events.offsets_for_times(dict.fromkeys(tps, since_ms))
        for tp in tps:
            at = found.get(tp)
            if at is None:
                self._events.seek_to_end(tp)
            else:
                self._events.seek(tp, at.offset)
        self.last_round = time.monotonic()

    def poll_once(self) -> int:
        """Fold new models-topic records, then add polled events to the window."""
        self.sync_models()
        assert self._events is not None
        added, limits = 0, self.s.event_limits
        for tp, batch in self._events.poll(timeout_ms=int(self.s.poll_s * 1000)).items():
            for msg in batch:
                ev = stream_event(msg.value, Source(tp.topic, tp.partition, msg.offset), limits)
                if ev is not None:
                    self.window.add(ev)
                    added += 1
        self.new_events += added
        self.metrics.events.inc(added)
        self.metrics.window_events.set(len(self.window))
        return added

    def sync_models(self) -> None:
        """Follow the models topic; reload the serving checkpoint after a rollback."""
        if self._models is None:
            return
        for batch in self._models.poll(timeout_ms=0).values():
            for msg in batch:
                self.catalog.apply(msg.key, msg.value)
        wanted = self.catalog.serving
        if wanted is None or wanted == self.serving_version or wanted in self.unusable:
            return
        try:
            self.serving = self._checkpoint_of(wanted)
        except (DistributionError, OSError, ValueError, RuntimeError) as exc:
            self.unusable.add(wanted)
            log.error(
                "cannot fine-tune from %s (%s); keeping %s", wanted, exc, self.serving_version
            )
            return
        self.serving_version = wanted
        log.warning("trainer now fine-tunes from %s", wanted)

    def _read_models_to_end(self, timeout_s: float = 10.0) -> None:
        """Fold the models topic up to its current end (what this trainer just sent included)."""
        if self._models is None:
            return
        tps = list(self._models.assignment())
        end = self._models.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while any(self._models.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                log.warning("models topic not read to its end; pruning from what was read")
                return
            for batch in self._models.poll(timeout_ms=200).values():
                for msg in batch:
                    self.catalog.apply(msg.key, msg.value)

    def _checkpoint_of(self, version: str) -> Checkpoint:
        dest = self.s.work_dir / "versions" / version  # a checked name (the catalog's)
        ckpt = dest / "checkpoint.pt"
        if not ckpt.is_file():
            if dest.exists():
                shutil.rmtree(dest)
            limits = ArchiveLimits(self.trust.max_archive_bytes, self.trust.max_archive_bytes)
            unpack(self.catalog.archive(version), dest, limits)
        if not ckpt.is_file():
            raise DistributionError(f"version {version} carries no checkpoint")
        return Checkpoint.load(ckpt)

    def due(self) -> bool:
        """A round is due by event count, or by time with enough new events."""
        if self.serving is None:
            return False
        if self.new_events >= self.s.train_every_events:
            return True
        elapsed = time.monotonic() - self.last_round
        return elapsed >= self.s.train_every_s and self.new_events >= self.s.min_new_events

    def bootstrap(self, checkpoint: Checkpoint, version: str | None = None) -> str:
        """Export, publish and serve a first model (when the topic has none)."""
        version = version or f"{self.s.app_id}-{time.strftime('%Y%m%dT%H%M%S')}-0"
        self._promote(checkpoint, version, None, "bootstrap", {}, cause="bootstrap")
        return version

    def promote(self, checkpoint: Checkpoint, version: str, reason: str) -> tuple[bool, str]:
        """Export, verify, publish and serve ``checkpoint`` without a gate (operators, tests)."""
        return self._promote(checkpoint, version, self.serving_version, reason, {})

    def run_round(self) -> RoundResult:
        """Fine-tune, gate, export, verify, then promote or reject (and announce either)."""
        assert self.serving is not None
        started = time.monotonic()
        s = self.s
        self.new_events = 0
        self.last_round = started
        context, holdout = self.window.split(s.holdout_share, min_holdout=1)
        version = f"{s.app_id}-{time.strftime('%Y%m%dT%H%M%S')}-{len(self.rounds) + 1}"
        log.warning(
            "round %s: fine-tuning %s on %d events, gating on %d",
            version,
            self.serving_version,
            len(context),
            len(holdout),
        )
        cfg = FineTuneConfig(
            epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, time_budget_s=s.time_budget_s
        )
        tuned = fine_tune(self.serving, context, cfg)
        candidate = tuned.checkpoint
        if self.candidate_hook is not None:
            candidate = self.candidate_hook(candidate)
        gate_cfg = GateConfig(s.gate_k, s.tolerance, s.auc_tolerance, s.min_gate_events)
        decision = gate(candidate, self.serving, context, holdout, gate_cfg)
        figures = {**decision.to_dict(), "new_items": len(tuned.new_items)}
        figures["train_events"] = len(context)
        if decision.promoted:
            promoted, reason = self._promote(
                candidate, version, self.serving_version, decision.reason, figures
            )
        else:
            promoted, reason = False, decision.reason
            self._reject(version, reason, figures)
        result = RoundResult(version, promoted, reason, figures, time.monotonic() - started)
        self.rounds.append(result)
        self.metrics.round_done(promoted, result.seconds)
        self.status.rounds = len(self.rounds)
        log.warning(
            "round %s %s in %.1f s: %s",
            version,
            "PROMOTED" if promoted else "REJECTED",
            result.seconds,
            reason,
        )
        return result

    def _promote(
        self,
        checkpoint: Checkpoint,
        version: str,
        parent: str | None,
        reason: str,
        figures: dict[str, Any],
        cause: str = "promotion",
    ) -> tuple[bool, str]:
        from streamrec.export.errors import ExportError, SessionError
        from streamrec.export.onnx_export import export_checkpoint

        dest = self.s.work_dir / "versions" / version
        ckpt_path = checkpoint.save(dest / "checkpoint.pt")
        bundle = dest / "bundle"
        try:
            export_checkpoint(
                checkpoint,
                bundle,
                k=self.s.k,
                version=version,
                parent=parent,
                real=real_inputs(checkpoint, self.window.events()),
                exporter=self.s.exporter,
                overwrite=True,
            )
            if self.bundle_hook is not None:
                self.bundle_hook(bundle)
            verify_bundle(bundle)
        except (ExportError, SessionError, OSError, ValueError) as exc:
            why = f"rejected: bundle failed verification: {exc}"
            self._reject(version, why, figures)
            return False, why
        assert self._publisher is not None
        record = self._publisher.publish_version(
            bundle, ckpt_path, version=version, parent=parent, reason=reason, gate=figures
        )
        self._publisher.serve(version, cause)  # type: ignore[arg-type]
        self.serving, self.serving_version = checkpoint, version
        self.prune(record)
        self.sync_models()
        return True, reason

    def prune(self, newest: VersionRecord | None = None) -> list[str]:
        """Tombstone versions older than the kept ones (never serving); drop local copies."""
        assert self._publisher is not None
        self._read_models_to_end()
        old = self.catalog.prunable(newest)
        self._publisher.tombstone(old)
        for record in old:
            shutil.rmtree(self.s.work_dir / "versions" / record.version, ignore_errors=True)
        return [r.version for r in old]

    def _reject(self, version: str, reason: str, figures: dict[str, Any]) -> None:
        log.warning("candidate %s rejected: %s", version, reason)
        assert self._publisher is not None
        self._publisher.reject(version, self.serving_version, reason, figures)


__all__ = ["RoundResult", "Trainer", "verify_bundle"]
