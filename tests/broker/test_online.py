"""Broker tier: trainer rounds, the models topic and model watchers against a real Kafka."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from streamrec.export.bundle import read_manifest
from streamrec.models.data.synthetic import generate_events
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.gru import RecurrentRecommender
from streamrec.stream.config.trainer_settings import TrainerSettings
from streamrec.stream.distribution.log import read_catalog
from streamrec.stream.distribution.topic import (
    ModelPublisher,
    VersionRecord,
    pack,
    sha256,
    split_chunks,
)
from streamrec.stream.distribution.watcher import ModelWatcher
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.tools.clients import event_payload
from streamrec.stream.trainer.loop import Trainer
from tests.support.kafka import Broker, unique_name
from tests.support.models import tiny_checkpoint
from tests.support.stream import produce, wait_until


def load_cpu(path: Path) -> ServingModel:
    from streamrec.export.runtime import StepSession

    return ServingModel(StepSession.open(path, provider="cpu", threads=1, spin=False))


def trainer_settings(broker: Broker, tmp_path: Path, events: str, models: str) -> TrainerSettings:
    return TrainerSettings(
        bootstrap=broker.bootstrap,
        app_id=unique_name("ft"),
        events_topic=events,
        models_topic=models,
        work_dir=tmp_path / "trainer",
        window_s=1e9,  # synthetic time spans 30 days; keep everything
        train_every_events=10**9,  # rounds are driven by the test
        epochs=3,
        lr=5e-3,
        session_timeout_s=6.0,
    )


def fill(trainer: Trainer, n: int) -> None:
    wait_until(lambda: trainer.poll_once() >= 0 and len(trainer.window) >= n, 60, 0.1, "events")


def nan_weights(ck: Checkpoint) -> Checkpoint:
    sd = {k: v.clone() for k, v in ck.state_dict.items()}
    sd["rnn.weight_hh_l0"][0, 0] = float("inf")
    return Checkpoint(ck.config, sd, ck.vocab)


def corrupt(bundle: Path) -> None:
    data = bytearray((bundle / "step.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "step.onnx").write_bytes(bytes(data))


def test_trainer_promotes_refuses_poison_and_workers_follow(
    broker: Broker, new_topic, tmp_path: Path
) -> None:
    events_topic = new_topic("events", partitions=2)
    models_topic = unique_name("models")
    stream = generate_events(n_users=50, n_items=80, n_events=1600, seed=7)
    first_items = sorted({e.item_id for e in stream[:400]})
    s = trainer_settings(broker, tmp_path, events_topic, models_topic)
    hooks: dict[str, object] = {}
    trainer = Trainer(
        s,
        candidate_hook=lambda c: hooks["candidate"](c) if "candidate" in hooks else c,  # type: ignore[operator]
        bundle_hook=lambda b: hooks["bundle"](b) if "bundle" in hooks else None,  # type: ignore[operator]
    )
    standby = Trainer(s)
    trainer.open()
    try:
        v0 = trainer.bootstrap(tiny_checkpoint(first_items, dropout=0.0), version="v0")
        # A worker already running: it loads v0 now and follows the topic.
        early = ModelWatcher(broker.kafka, models_topic, tmp_path / "w1", load_cpu)
        model = early.catch_up()
        assert model is not None and model.version == v0
        swaps: list[str] = []
        early.start(lambda m, rec: swaps.append(m.version))

        # Exactly one of two trainers holds the lease.
        standby.open()
        for _ in range(40):
            for t in (trainer, standby):
                assert t._lease is not None
                t._lease.poll(timeout_ms=100)
            if trainer.active or standby.active:
                break
        time.sleep(1.0)
        for t in (trainer, standby):
            t._lease.poll(timeout_ms=200)  # type: ignore[union-attr]
        assert trainer.active != standby.active

        produce(
            broker.bootstrap,
            events_topic,
            [(e.user_id.encode(), event_payload(e)) for e in stream],
        )
        trainer.take_over()
        fill(trainer, len(stream))

        good = trainer.run_round()
        assert good.promoted, good.reason
        # Export verified (and would gate an item index) on the window's real next events.
        manifest = read_manifest(trainer.s.work_dir / "versions" / good.version / "bundle")
        assert manifest.verification["step"]["real"]["rows"] == 2000
        assert good.gate["candidate"]["HR@10"] > good.gate["serving"]["HR@10"]
        assert good.gate["new_items"] > 0
        wait_until(lambda: swaps == [good.version], 60, 0.2, "watcher to switch")

        hooks["candidate"] = nan_weights
        bad_nan = trainer.run_round()
        del hooks["candidate"]
        assert not bad_nan.promoted and "non-finite" in bad_nan.reason

        hooks["candidate"] = _worse
        bad_worse = trainer.run_round()
        del hooks["candidate"]
        assert not bad_worse.promoted and "worse than serving" in bad_worse.reason

        # A candidate that passes the gate (the serving weights) but whose bundle is damaged.
        hooks["candidate"], hooks["bundle"] = (lambda c: trainer.serving), corrupt
        bad_bundle = trainer.run_round()
        del hooks["bundle"], hooks["candidate"]
        assert not bad_bundle.promoted and "verification" in bad_bundle.reason

        catalog = read_catalog(broker.kafka, models_topic)
        assert catalog.serving == good.version
        statuses = {v: r.status for v, r in catalog.versions.items()}
        assert statuses[good.version] == "promoted"
        for bad in (bad_nan, bad_worse, bad_bundle):
            assert statuses[bad.version] == "rejected"
            assert catalog.versions[bad.version].reason == bad.reason
        time.sleep(1.0)
        assert swaps == [good.version]  # workers never saw a refused candidate

        # A worker started after the promotion serves the latest version at once.
        late = ModelWatcher(broker.kafka, models_topic, tmp_path / "w2", load_cpu)
        latest = late.catch_up()
        assert latest is not None and latest.version == good.version
        late.stop()

        # A corrupted archive on the topic is refused by workers; they keep serving.
        pub = ModelPublisher(broker.kafka, models_topic, chunk_bytes=4096)
        try:
            archive = pack(trainer.s.work_dir / "versions" / good.version / "bundle", None)
            chunks = split_chunks(archive, 4096)
            assert len(chunks) > 3  # really chunked
            record = VersionRecord(
                version="tampered",
                status="promoted",
                created=time.time(),
                archive_sha256=sha256(archive),
                archive_bytes=len(archive),
                chunk_sha256=[sha256(c) for c in chunks],
            )
            for i, chunk in enumerate(chunks):
                pub._send(f"chunk/tampered/{i:06d}", b"garbage" if i == 1 else chunk)
            pub._send("version/tampered", record.to_json())
            pub.serve("tampered", "promotion")
            # Rollback to v0 through the history works while "tampered" is refused.
            pub.serve(v0, "rollback")
        finally:
            pub.close()
        wait_until(lambda: swaps[-1:] == [v0], 60, 0.2, "rollback to reach the watcher")
        assert "tampered" not in swaps
        assert early.current == v0
        early.stop()
    finally:
        trainer.close()
        standby.close()


def _worse(c: Checkpoint) -> Checkpoint:
    """Same shapes and vocabulary, random weights: a candidate far worse than the serving one."""
    torch.manual_seed(123)
    fresh = RecurrentRecommender(c.config)
    return Checkpoint(c.config, fresh.state_dict(), c.vocab)
