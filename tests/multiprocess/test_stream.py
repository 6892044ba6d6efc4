"""Multiprocess tier: several worker processes in one group; kill -9 and restart mid-stream."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

import orjson

from tests.support.kafka import Broker, free_port
from tests.support.stream import (
    Worker,
    event_json,
    produce,
    read_topic,
    start_group,
    wait_until,
    worker_pair,
    worker_settings,
)


def user_counts(worker: Worker, users: list[str]) -> dict[str, int]:
    """Event count in state for each user, asked through one worker (routed to the owner)."""
    counts = {}
    for u in users:
        status, body = worker.get(f"/users/{u}/recommendations")
        counts[u] = orjson.loads(body)["event_count"] if status == 200 else 0
    return counts


def test_two_workers_split_partitions_and_both_produce(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = worker_settings(tmp_path, tiny_bundle, partitions=4)
    a, b = worker_pair(broker.bootstrap, tmp_path, s)
    try:
        start_group(a, b)
        users = [f"user-{n}" for n in range(40)]
        events = [
            (u.encode(), event_json(u, f"i{(n + k) % 60}"))
            for k in range(5)
            for n, u in enumerate(users)
        ]
        produce(broker.bootstrap, str(s["events_topic"]), events)
        recs = read_topic(
            broker.bootstrap, str(s["recommendations_topic"]), len(events), timeout=90
        )
        if len(recs) < len(events):
            got = {r["user_id"] for r in recs}
            missing = sorted({u for u in users if u not in got})
            raise AssertionError(
                f"{len(recs)} of {len(events)} recommendations; no answer for {missing}\n"
                f"worker a: {a.dump()}\nworker b: {b.dump()}"
            )
        by_a = a.metric("streamrec_recommendations_total")
        by_b = b.metric("streamrec_recommendations_total")
        assert by_a > 0 and by_b > 0 and by_a + by_b >= len(events)
        # Either worker answers for any user: requests are routed to the owner of the key.
        assert user_counts(a, users) == {u: 5 for u in users}
        assert user_counts(b, users[:5]) == {u: 5 for u in users[:5]}
    finally:
        a.stop()
        b.stop()


def test_kill_9_and_restart_loses_nothing_and_applies_nothing_twice(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = {**worker_settings(tmp_path, tiny_bundle, partitions=4), "commit_interval_s": 0.5}
    users = [f"k{n}" for n in range(30)]
    per_user = 60
    events = [
        (
            u.encode(),
            event_json(u, f"i{(n * 3 + k) % 60}", "buy" if k % 9 == 8 else "click", ts=1.7e9 + k),
        )
        for k in range(per_user)
        for n, u in enumerate(users)
    ]
    positions: list[tuple[int, int]] = []
    first = Worker(broker.bootstrap, tmp_path / "w1.log", free_port(), **s).start().wait_ready()
    publisher = threading.Thread(
        target=produce,
        args=(broker.bootstrap, str(s["events_topic"]), events, 300.0, positions),
        daemon=True,
    )
    publisher.start()
    workers = [first]
    try:
        time.sleep(2.0)
        first.kill()  # mid-stream, no chance to flush or commit
        # Restart on the same state directory (the usual case)...
        second = (
            Worker(broker.bootstrap, tmp_path / "w2.log", free_port(), **s).start().wait_ready()
        )
        workers.append(second)
        time.sleep(1.5)
        second.kill()
        # ... and once more on an empty one: state must come back from the changelog alone.
        fresh = {**s, "data_dir": tmp_path / "fresh"}
        third = Worker(broker.bootstrap, tmp_path / "w3.log", free_port(), **fresh).start()
        workers.append(third.wait_ready())
        publisher.join(60)
        assert len(positions) == len(events)
        expected = {u: per_user for u in users}
        seen: list[dict[str, int]] = [{}]

        def all_applied() -> bool:
            seen[0] = user_counts(third, users)
            return seen[0] == expected

        try:
            wait_until(all_applied, 120, 1.0, "all events applied")
        except TimeoutError:
            wrong = {u: c for u, c in seen[0].items() if c != per_user}
            log = third.dump()
            detail = f"counts (want {per_user}): {wrong}\nw3.log tail:\n{log}"
            raise AssertionError(detail) from None
        recs = read_topic(
            broker.bootstrap, str(s["recommendations_topic"]), len(events), timeout=60
        )
        answered = {(r["source"]["partition"], r["source"]["offset"]) for r in recs}
        missing = set(positions) - answered
        assert not missing, f"{len(missing)} events without a recommendation"
        counts = defaultdict(set)
        for r in recs:
            if not r["replayed"]:
                counts[r["user_id"]].add(r["event_count"])
        assert all(max(c) == per_user for c in counts.values())
        time.sleep(2)
        assert user_counts(third, users) == expected  # and stays there: nothing applied twice
    finally:
        for w in workers:
            w.stop()
