"""Broker tier: a real worker process against a real broker, fresh topics and app id per test."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import orjson

from streamrec.stream.transport.partitioner import partition_for_user
from tests.support.kafka import Broker, free_port
from tests.support.stream import (
    Worker,
    event_json,
    produce,
    read_topic,
    wait_until,
    worker_settings,
)


def test_events_in_recommendations_out_and_bad_events_dead_lettered(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = {**worker_settings(tmp_path, tiny_bundle), "lag_refresh_s": 0.5}
    worker = Worker(broker.bootstrap, tmp_path / "worker.log", free_port(), **s).start()
    try:
        worker.wait_ready()
        users = [f"u{n}" for n in range(6)]
        valid = [
            (
                u.encode(),
                event_json(
                    u, f"i{(n * 7 + k) % 60}", "buy" if k == 3 else "click", ts=1.7e12 + k * 1000
                ),
            )
            for k in range(4)
            for n, u in enumerate(users)
        ]
        bad = [
            (b"x", b"{not json"),
            (b"u0", b'{"user_id": "u0", "item_id": "i1", "action": "teleport", "ts": 1}'),
            (b"u0", b'{"user_id": "u0", "action": "click", "ts": 1}'),
            (b"u0", b'{"user_id": "u0", "item_id": 1.5, "action": "click", "ts": 1}'),
            (
                b"u0",
                b'{"user_id": "u0", "item_id": "i1", "action": "click", "ts": 1, "p": "'
                + b"x" * 5000
                + b'"}',
            ),
            (b"u0", b"[]"),
        ]
        # Bad events first, then valid ones: the worker must keep going. One valid event is
        # keyed by another id (not its user): the worker repartitions it by user.
        stray = (b"not-the-user", event_json("u5", "i9", "click", ts=1.7e9 + 99))
        produce(broker.bootstrap, str(s["events_topic"]), [*bad, *valid, stray])
        n_valid = len(valid) + 1

        recs = read_topic(
            broker.bootstrap, str(s["recommendations_topic"]), n_valid, timeout=60, meta=True
        )
        assert len(recs) == n_valid
        for r in recs:  # keyed by user, on the partition Kafka's default partitioner gives it
            assert r["_key"] == r["user_id"].encode()
            assert r["_partition"] == partition_for_user(r["user_id"], r["_partitions"])
        per_user = defaultdict(list)
        for r in recs:
            per_user[r["user_id"]].append(r)
        assert set(per_user) == set(users)
        for u, rs in per_user.items():
            expected = 5 if u == "u5" else 4
            # In the order of the user's events (one partition, offset order).
            assert [r["event_count"] for r in rs] == list(range(1, expected + 1))
            for r in rs:
                assert r["model_version"] == "tiny-1"
                assert 0 < len(r["items"]) <= 10
                assert all(i["item_id"].startswith("i") for i in r["items"])
                assert r["source"]["topic"] == s["events_topic"]
                assert 0.0 <= r["buy_probability"] <= 1.0
            # The bought item is excluded from the recommendation that follows the buy.
            bought = next(r for r in rs if r["event_count"] == 4)
            assert all(i["item_id"] != f"i{(users.index(u) * 7 + 3) % 60}" for i in bought["items"])
        assert {r["event_ts"] for r in recs if r["user_id"] == "u0"} == {
            1.7e9 + k for k in range(4)
        }

        dead = read_topic(broker.bootstrap, str(s["dead_letter_topic"]), len(bad), timeout=30)
        reasons = Counter(d["reason"] for d in dead)
        assert reasons == Counter(
            [
                "malformed_json",
                "unknown_action",
                "missing_field",
                "wrong_type",
                "payload_too_large",
                "not_an_object",
            ]
        )
        assert all(d["source"]["topic"] == s["events_topic"] for d in dead)
        assert any(d["raw"] == "{not json" for d in dead)

        status, body = worker.get("/users/u5/recommendations")
        assert status == 200
        state = orjson.loads(body)
        assert state["event_count"] == 5 and state["model_version"] == "tiny-1"
        assert state["state_bytes"] < 1024
        assert worker.get("/users/nobody/recommendations")[0] == 404
        assert worker.metric("streamrec_dead_letters_total") == len(bad)
        assert worker.metric("streamrec_recommendations_total") == n_valid
        # Lag per topic and partition, read from the broker: every partition of both input
        # topics shows, and all reach 0 once the offsets are committed.
        expected = {
            f'{{partition="{p}",topic="{topic}"}}'
            for topic in (s["events_topic"], f"{s['app_id']}-events-by-user")
            for p in range(int(str(s["partitions"])))
        }
        wait_until(
            lambda: worker.samples("streamrec_consumer_lag") == dict.fromkeys(expected, 0.0),
            30,
            0.5,
            "every input partition's lag at 0",
        )
    finally:
        worker.stop()


def test_lag_shows_events_fetched_but_not_yet_handled(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    """The lag is read from the broker on a timer, not when a batch is done: events that wait
    in a long micro-batch linger count as lag until they are handled and committed."""
    s = {
        **worker_settings(tmp_path, tiny_bundle),
        "lag_refresh_s": 0.3,
        "batch_within_s": 8.0,  # a batch waits this long for more events
        "batch_max": 10_000,
        "commit_interval_s": 0.5,
    }
    worker = Worker(broker.bootstrap, tmp_path / "worker.log", free_port(), **s).start()
    try:
        worker.wait_ready()
        n = 40
        produce(
            broker.bootstrap,
            str(s["events_topic"]),
            [(f"w{k}".encode(), event_json(f"w{k}", "i1")) for k in range(n)],
        )
        lag = lambda: sum(worker.samples("streamrec_consumer_lag").values())  # noqa: E731
        wait_until(lambda: lag() == n, 6, 0.2, f"lag {n} while the batch lingers")
        assert worker.metric("streamrec_recommendations_total") == 0  # none handled yet
        wait_until(lambda: lag() == 0, 30, 0.5, "lag 0 once handled and committed")
        assert worker.metric("streamrec_recommendations_total") == n
    finally:
        worker.stop()
