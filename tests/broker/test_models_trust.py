"""Broker tier: forged and malformed records on a real models topic; retention by tombstones."""

from __future__ import annotations

import time
from pathlib import Path

from kafka import KafkaProducer

from streamrec.stream.distribution.log import read_catalog
from streamrec.stream.distribution.topic import ModelPublisher, ensure_models_topic
from streamrec.stream.distribution.trust import Signer, TrustConfig
from streamrec.stream.distribution.watcher import ModelWatcher
from streamrec.stream.serving.model import ServingModel
from tests.support.kafka import Broker, unique_name
from tests.support.models import tiny_bundle_at
from tests.support.stream import wait_until

KEY = b"broker-test-signing-key-0123"


def load_cpu(path: Path) -> ServingModel:
    from streamrec.export.runtime import StepSession

    return ServingModel(StepSession.open(path, provider="cpu", threads=1, spin=False))


def send_raw(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def test_forged_and_malformed_records_never_reach_a_worker(broker: Broker, tmp_path: Path) -> None:
    topic = unique_name("models")
    ensure_models_topic(broker.kafka, topic)
    v1 = tiny_bundle_at(tmp_path / "v1", version="v1")
    trust = TrustConfig(signing_key=KEY, keep_versions=2)
    good = ModelPublisher(broker.kafka, topic, chunk_bytes=4096, signer=Signer(KEY))
    evil = ModelPublisher(broker.kafka, topic, chunk_bytes=4096)  # no key: unsigned
    try:
        good.publish_version(v1, None, version="v1", parent=None, reason="t", gate={})
        good.serve("v1", "bootstrap")
        # Poison already on the topic when a worker starts: it must not crash-loop.
        evil.publish_version(v1, None, version="evil", parent=None, reason="t", gate={})
        evil.serve("evil", "promotion")
        send_raw(
            broker.bootstrap,
            topic,
            [
                (b"version/v9", b"{not json"),
                (b"history/00000000000000000001", b"[]"),
                (b"chunk/../../escaped/000000", b"x"),
                (b"nonsense", b"y"),  # (a null key: the compacted topic itself refuses it)
            ],
        )
        watcher = ModelWatcher(broker.kafka, topic, tmp_path / "w", load_cpu, trust=trust)
        model = watcher.catch_up()
        assert model is not None and model.version == "v1"
        assert watcher.catalog.refused["unsigned"] == 2
        assert sum(watcher.catalog.refused.values()) == 6
        assert not (tmp_path / "escaped").exists() and not (tmp_path / "w" / "evil").exists()
        swaps: list[str] = []
        watcher.start(lambda m, rec: swaps.append(m.version))

        # While it runs: garbage, a forged serving record, then a real promotion.
        v2 = tiny_bundle_at(tmp_path / "v2", version="v2", seed=1)
        send_raw(broker.bootstrap, topic, [(b"version/v2", b"\x00" * 10), (b"chunk/v2/zz", b"")])
        evil.serve("v1", "rollback")  # unsigned, even though it names a real version
        good.publish_version(v2, None, version="v2", parent="v1", reason="t", gate={})
        good.serve("v2", "promotion")
        wait_until(lambda: swaps == ["v2"], 60, 0.2, "the signed promotion")
        assert watcher._thread is not None and watcher._thread.is_alive()
        assert watcher.catalog.refused["unsigned"] == 3
        assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["v1", "v2"]
        watcher.stop()
    finally:
        good.close()
        evil.close()


def test_start_up_falls_back_to_the_last_good_version(broker: Broker, tmp_path: Path) -> None:
    topic = unique_name("models")
    ensure_models_topic(broker.kafka, topic)
    v1 = tiny_bundle_at(tmp_path / "v1", version="v1")
    pub = ModelPublisher(broker.kafka, topic, chunk_bytes=4096)
    try:
        pub.publish_version(v1, None, version="v1", parent=None, reason="t", gate={})
        pub.serve("v1", "bootstrap")
        # The serving version's chunks are damaged: workers fall back to v1, never crash.
        pub.publish_version(v1, None, version="v2", parent="v1", reason="t", gate={})
        send_raw(broker.bootstrap, topic, [(b"chunk/v2/000001", b"garbage")])
        pub.serve("v2", "promotion")
    finally:
        pub.close()
    failures: list[str] = []
    watcher = ModelWatcher(
        broker.kafka,
        topic,
        tmp_path / "w",
        load_cpu,
        on_failure=lambda v, _r: failures.append(v),
    )
    model = watcher.catch_up()
    assert model is not None and model.version == "v1" and watcher.current == "v1"
    assert failures == ["v2"]
    watcher.stop()


def test_old_versions_are_tombstoned_and_not_unpacked(broker: Broker, tmp_path: Path) -> None:
    topic = unique_name("models")
    ensure_models_topic(broker.kafka, topic)
    v1 = tiny_bundle_at(tmp_path / "v1", version="v1")
    trust = TrustConfig(keep_versions=2)
    pub = ModelPublisher(broker.kafka, topic, chunk_bytes=4096)
    try:
        for n in range(4):
            pub.publish_version(v1, None, version=f"v{n}", parent=None, reason="t", gate={})
        pub.serve("v1", "rollback")  # serving an old one: never pruned
        catalog = read_catalog(broker.kafka, topic, trust=trust)
        assert [r.version for r in catalog.prunable()] == ["v0"]
        pub.tombstone(catalog.prunable())
    finally:
        pub.close()
    time.sleep(0.5)
    after = read_catalog(broker.kafka, topic, trust=trust)
    assert set(after.versions) == {"v1", "v2", "v3"} and "v0" not in after.chunks
    watcher = ModelWatcher(broker.kafka, topic, tmp_path / "w", load_cpu, trust=trust)
    model = watcher.catch_up()
    assert model is not None and watcher.current == "v1"
    assert [p.name for p in (tmp_path / "w").iterdir()] == ["v1"]  # only the served one
    assert set(watcher.catalog.chunks) == {"v2", "v3"}  # v1 is on disk; older ones dropped
    watcher.stop()


def test_trainer_prunes_old_versions_and_skips_bad_records(broker: Broker, tmp_path: Path) -> None:
    import torch

    from streamrec.models.data.vocab import Vocabulary
    from streamrec.models.nets.checkpoint import Checkpoint
    from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender
    from streamrec.stream.config.trainer_settings import TrainerSettings
    from streamrec.stream.trainer.loop import Trainer

    torch.manual_seed(0)
    vocab = Vocabulary.build([f"i{n}" for n in range(30)])
    net = RecurrentRecommender(
        RecurrentConfig(num_items=vocab.capacity, embed_dim=16, hidden_dim=32, dropout=0.0)
    )
    ckpt = Checkpoint(net.config, net.state_dict(), vocab)
    topic = unique_name("models")
    s = TrainerSettings(
        bootstrap=broker.bootstrap,
        app_id=unique_name("ft"),
        models_topic=topic,
        work_dir=tmp_path / "trainer",
        models_keep_versions=1,
        models_signing_key=KEY.decode(),
    )
    trainer = Trainer(s)
    trainer.open()
    try:
        trainer.bootstrap(ckpt, version="v0")
        send_raw(broker.bootstrap, topic, [(b"version/zz", b"{bad"), (b"junk", b"")])
        for n in (1, 2):
            ok, why = trainer.promote(ckpt, f"v{n}", "test")
            assert ok, why
        wait_until(
            lambda: trainer.sync_models() is None and trainer.catalog.refused["bad-record"] == 1,
            30,
            0.2,
            "the trainer to read its topic",
        )
        assert trainer.catalog.refused["unknown-key"] == 1
        wait_until(
            lambda: trainer.sync_models() is None and set(trainer.catalog.versions) == {"v2"},
            30,
            0.2,
            "tombstones to reach the trainer",
        )
        assert set(trainer.catalog.chunks) <= {"v2"}
        assert [p.name for p in (s.work_dir / "versions").iterdir()] == ["v2"]
    finally:
        trainer.close()
    after = read_catalog(broker.kafka, topic, trust=TrustConfig(signing_key=KEY))
    assert (
        set(after.versions) == {"v2"}
        and after.serving == "v2"
        and not after.refused.get("unsigned")
    )
