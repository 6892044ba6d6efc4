"""Multiprocess tier: /ready stays 200 on a serving worker while a replica joins.

A joining worker makes every member of the group rebalance; a readiness probe that failed
during rebalances would take all replicas out of a load balancer at each step of a rolling
restart. The worker that was serving must answer 200 throughout; its rebalance count shows
that the rebalance happened (the ``serving`` flag is false only for the moment the rebalance
takes, which a probe can miss).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson

from tests.support.kafka import Broker
from tests.support.stream import worker_pair, worker_settings


def test_a_serving_worker_stays_ready_while_another_joins(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = worker_settings(tmp_path, tiny_bundle, partitions=4)
    a, b = worker_pair(broker.bootstrap, tmp_path, s)
    seen: list[tuple[int, int]] = []  # a's (status, rebalances so far) while b joins
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            try:
                status, body = a.get("/ready", timeout=2.0)
                seen.append((status, int(orjson.loads(body)["rebalances"])))
            except OSError:
                seen.append((0, -1))
            time.sleep(0.05)

    try:
        a.start().wait_ready()
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        b.start()
        b.wait_ready()
        time.sleep(2.0)
        stop.set()
        prober.join(5)
        assert seen and {status for status, _ in seen} == {200}, seen
        counts = [n for _, n in seen]
        assert counts[-1] > counts[0], f"no rebalance was seen: {counts}"
    finally:
        stop.set()
        a.stop()
        b.stop()
