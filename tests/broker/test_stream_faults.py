"""Broker tier: hostile input, a lost record and a kill between store and changelog.

Each test runs real worker processes against the real broker and checks the promise of
issue 11: bad input becomes dead letters while the partition keeps committing; a record
that cannot be delivered makes the worker fail loudly without committing past it; a worker
killed after its local write and before the changelog ack loses nothing on restore.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import orjson

from streamrec.stream.tools.chaos.poison import POISON
from tests.support.kafka import Broker, create_topic, free_port
from tests.support.stream import (
    Worker,
    event_json,
    produce,
    read_topic,
    wait_until,
    worker_settings,
)


def settings_for(tmp_path: Path, bundle: Path, partitions: int = 2) -> dict[str, object]:
    return worker_settings(tmp_path, bundle, partitions, "fault", commit_interval_s=0.2)


def committed(broker: Broker, group: str, topic: str) -> dict[int, int]:
    """The consumer group's committed offset per partition of ``topic``."""
    admin = broker.admin()
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def end_offsets(broker: Broker, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        consumer.close()


def store_dump(data_dir: Path) -> dict[bytes, bytes]:
    """Every user state in a stopped worker's RocksDB partitions (Faust's offset key left out)."""
    from rocksdict import AccessType, Options, Rdict

    out: dict[bytes, bytes] = {}
    for path in sorted(data_dir.rglob("*.db")):
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                if not key.startswith(b"__faust"):
                    out[key] = value
        finally:
            db.close()
    return out


def test_poison_interleaved_with_valid_events_never_stops_the_partition(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = settings_for(tmp_path, tiny_bundle, partitions=1)
    users = [f"u{n}" for n in range(5)]
    messages: list[tuple[bytes | None, bytes]] = []
    sent: Counter[str] = Counter()
    for k, poison in enumerate([p.raw for p in POISON] * 2):
        user = users[k % len(users)]
        messages.append((user.encode(), poison))
        messages.append((user.encode(), event_json(user, f"i{k % 60}", ts=1.7e9 + k)))
        sent[user] += 1
    n_valid = sum(sent.values())
    worker = Worker(broker.bootstrap, tmp_path / "worker.log", free_port(), **s).start()
    try:
        worker.wait_ready()
        produce(broker.bootstrap, str(s["events_topic"]), messages)
        recs = read_topic(broker.bootstrap, str(s["recommendations_topic"]), n_valid, timeout=60)
        dead = read_topic(broker.bootstrap, str(s["dead_letter_topic"]), 2 * len(POISON), 30)
        assert len(recs) == n_valid and not any(r["replayed"] for r in recs)
        assert Counter(r["user_id"] for r in recs) == sent
        assert len(dead) == 2 * len(POISON)
        assert Counter(d["reason"] for d in dead) == Counter(p.reason.value for p in POISON * 2)
        assert worker.metric("streamrec_internal_errors_total") == 0
        ends = end_offsets(broker, str(s["events_topic"]))
        wait_until(
            lambda: committed(broker, str(s["app_id"]), str(s["events_topic"])) == ends,
            30,
            0.5,
            "the committed offset to reach the end of the events topic",
        )
        assert worker.get("/health")[0] == 200
    finally:
        worker.stop()


def test_an_undeliverable_record_fails_the_worker_without_committing_past_it(
    broker: Broker, tiny_bundle: Path, tmp_path: Path, new_topic
) -> None:  # type: ignore[no-untyped-def]
    s = settings_for(tmp_path, tiny_bundle, partitions=1)
    # Recommendations (~700 bytes) do not fit this topic: every send is refused for good.
    s["recommendations_topic"] = new_topic("tiny-recs", 1, {"max.message.bytes": "300"})
    s["send_timeout_s"] = 5
    events = [(b"u1", event_json("u1", f"i{k}", ts=1.7e9 + k)) for k in range(5)]
    worker = Worker(broker.bootstrap, tmp_path / "worker.log", free_port(), **s).start()
    try:
        worker.wait_ready()
        produce(broker.bootstrap, str(s["events_topic"]), events)
        proc = worker.proc
        assert proc is not None
        wait_until(lambda: proc.poll() is not None, 60, 0.5, "the worker to exit")
        assert proc.returncode == 70, worker.log.read_text()[-3000:]
        log = worker.log.read_text()
        assert "fatal" in log and "recommendation record" in log
        # Nothing was committed past the lost records.
        assert committed(broker, str(s["app_id"]), str(s["events_topic"])).get(0, -1) <= 0
    finally:
        worker.stop()

    # Fixed topic, restarted worker: every event answered, none applied twice. (The states
    # and their changelog were written before the recommendations failed, so the replay
    # answers with the stored, current recommendations, marked replayed.)
    admin = broker.admin()
    try:
        from kafka.admin import ConfigResource, ConfigResourceType

        big = {"max.message.bytes": "1048576"}
        name = str(s["recommendations_topic"])
        resource = ConfigResource(ConfigResourceType.TOPIC, name, big)
        admin.alter_configs([resource])
    finally:
        admin.close()
    again = Worker(broker.bootstrap, tmp_path / "again.log", free_port(), **s).start()
    try:
        again.wait_ready()
        recs = read_topic(broker.bootstrap, str(s["recommendations_topic"]), 5, timeout=60)
        assert sorted(r["source"]["offset"] for r in recs) == [0, 1, 2, 3, 4]
        assert {r["event_count"] for r in recs} == {5}
        status, body = again.get("/users/u1/recommendations")
        assert status == 200 and orjson.loads(body)["event_count"] == 5
    finally:
        again.stop()


def test_a_kill_between_local_write_and_changelog_loses_nothing_on_restore(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = settings_for(tmp_path, tiny_bundle, partitions=2)
    topic, out = str(s["events_topic"]), str(s["recommendations_topic"])
    users = [f"u{n}" for n in range(8)]
    first = [(u.encode(), event_json(u, f"i{n}", ts=1.7e9 + n)) for n, u in enumerate(users) if n]
    killer = [(b"u0", event_json("u0", "i30", ts=1.7e9 + 50))]  # with u1's second event
    killer.append((b"u1", event_json("u1", "i31", ts=1.7e9 + 51)))

    # 1. A first round (u0 is not in it), then the worker dies right after writing u0's
    # first state locally, before its changelog record is sent.
    faulty = Worker(
        broker.bootstrap, tmp_path / "w1.log", free_port(), **s, fault_kill_after_writing="u0"
    )
    faulty.start().wait_ready()
    produce(broker.bootstrap, topic, first)
    read_topic(broker.bootstrap, out, len(first), timeout=60)
    wait_until(lambda: committed(broker, str(s["app_id"]), topic), 30, 0.5, "a first commit")
    produce(broker.bootstrap, topic, killer)
    proc = faulty.proc
    assert proc is not None
    wait_until(lambda: proc.poll() is not None, 60, 0.5, "the fault point to kill the worker")
    assert proc.returncode == -9

    # 2. Restart on the same directory; u0 stays idle from now on.
    again = Worker(broker.bootstrap, tmp_path / "w2.log", free_port(), **s).start()
    try:
        again.wait_ready()
        wait_until(
            lambda: committed(broker, str(s["app_id"]), topic) == end_offsets(broker, topic),
            60,
            0.5,
            "the replay to be committed",
        )
        status, body = again.get("/users/u0/recommendations")
        assert status == 200 and orjson.loads(body)["event_count"] == 1
    finally:
        assert again.stop() == 0
    live = store_dump(Path(str(s["data_dir"])))
    assert len(live) == len(users)

    # 3. A new worker restores from the changelog alone, onto an empty directory.
    s["data_dir"] = tmp_path / "empty"
    restored = Worker(broker.bootstrap, tmp_path / "w3.log", free_port(), **s).start()
    try:
        restored.wait_ready()
    finally:
        assert restored.stop() == 0
    assert store_dump(tmp_path / "empty") == live


def test_a_table_made_for_another_partition_count_is_refused_at_start(
    broker: Broker, tiny_bundle: Path, tmp_path: Path, new_topic
) -> None:  # type: ignore[no-untyped-def]
    s = settings_for(tmp_path, tiny_bundle, partitions=2)
    s["events_topic"] = new_topic("events", 2)
    # The state of this app id was built when the events had 3 partitions.
    changelog = f"{s['app_id']}-user-state-changelog"
    create_topic(broker, changelog, 3, {"cleanup.policy": "compact"})
    worker = Worker(broker.bootstrap, tmp_path / "worker.log", free_port(), **s).start()
    proc = worker.proc
    assert proc is not None
    assert proc.wait(60) == 2
    log = worker.log.read_text()
    assert f"{changelog} has 3 partitions but the events topic" in log
    assert "Traceback" not in log


def test_a_recreated_events_topic_is_a_new_topic_not_a_replay(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = settings_for(tmp_path, tiny_bundle, partitions=1)
    topic, out = str(s["events_topic"]), str(s["recommendations_topic"])
    first = [(b"u1", event_json("u1", f"i{k}", ts=1.7e9 + k)) for k in range(4)]
    worker = Worker(broker.bootstrap, tmp_path / "w1.log", free_port(), **s).start()
    try:
        worker.wait_ready()
        produce(broker.bootstrap, topic, first)
        read_topic(broker.bootstrap, out, 4, timeout=60)
    finally:
        worker.stop()
    admin = broker.admin()
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()
    wait_until(lambda: not end_offsets(broker, topic), 30, 0.5, "the topic to be deleted")
    wait_until(lambda: _try_create(broker, topic), 60, 1.0, "the topic to be created again")
    # Offsets 0 and 1 again, in the new topic: new events for u1.
    produce(broker.bootstrap, topic, [(b"u1", event_json("u1", "i9", ts=1.7e9 + 9))] * 2)
    again = Worker(broker.bootstrap, tmp_path / "w2.log", free_port(), **s).start()
    try:
        again.wait_ready()
        recs = read_topic(broker.bootstrap, out, 6, timeout=60)
        assert sorted(r["event_count"] for r in recs if not r["replayed"]) == [1, 2, 3, 4, 5, 6]
    finally:
        again.stop()


def _try_create(broker: Broker, topic: str) -> bool:
    try:
        create_topic(broker, topic, 1, None)
    except Exception:  # the deletion may still be in progress on the broker
        return False
    return True


def test_idle_users_expire_with_changelog_tombstones(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    from kafka import KafkaConsumer, TopicPartition

    s = settings_for(tmp_path, tiny_bundle, partitions=1)
    s.update(state_ttl_s=4, state_ttl_sweep_s=1)
    topic, out = str(s["events_topic"]), str(s["recommendations_topic"])
    worker = Worker(broker.bootstrap, tmp_path / "w.log", free_port(), **s).start()
    try:
        worker.wait_ready()
        produce(broker.bootstrap, topic, [(b"idle", event_json("idle", "i1", ts=1.7e9))])
        read_topic(broker.bootstrap, out, 1, timeout=60)
        busy = 0
        for _ in range(8):  # "busy" keeps writing while "idle" ages past the TTL
            busy += 1
            produce(broker.bootstrap, topic, [(b"busy", event_json("busy", "i2", ts=1.7e9))])
            wait_until(lambda: worker.get("/users/busy/recommendations")[0] == 200, 30)
            time.sleep(1)
        wait_until(lambda: worker.get("/users/idle/recommendations")[0] == 404, 30, 0.5, "expiry")
        status, body = worker.get("/users/busy/recommendations")
        assert status == 200 and orjson.loads(body)["event_count"] == busy
        assert worker.metric("streamrec_states_expired_total") == 1
    finally:
        worker.stop()
    changelog = f"{s['app_id']}-user-state-changelog"
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=2000)
    try:
        tp = TopicPartition(changelog, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        last = {msg.key: msg.value for msg in consumer}
    finally:
        consumer.close()
    assert last[b"idle"] is None and last[b"busy"] is not None
