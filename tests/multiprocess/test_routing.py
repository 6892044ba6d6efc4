"""Multiprocess tier: any replica answers for any user, behind a bearer token.

Two workers bind every interface (0.0.0.0) and advertise the loopback URL their replicas reach
them at; each owns some partitions. Every user is asked through each worker: the request is
forwarded to the owner with its token, and without the token both refuse it.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.support.kafka import Broker, free_port
from tests.support.stream import (
    Worker,
    event_json,
    produce,
    start_group,
    wait_until,
    worker_settings,
)

TOKEN = "routing-test-token-0123"


def test_each_replica_answers_for_every_user_with_the_token(
    broker: Broker, tiny_bundle: Path, tmp_path: Path
) -> None:
    s = {**worker_settings(tmp_path, tiny_bundle, partitions=4), "web_token": TOKEN}
    workers = []
    for name in ("a", "b"):
        port = free_port()
        workers.append(
            Worker(
                broker.bootstrap,
                tmp_path / f"{name}.log",
                port,
                **{
                    **s,
                    "data_dir": tmp_path / name,
                    "web_host": "0.0.0.0",
                    "web_advertised_url": f"http://127.0.0.1:{port}",
                },
            )
        )
    a, b = workers
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        start_group(a, b)
        users = [f"r{n}" for n in range(24)]
        produce(
            broker.bootstrap,
            str(s["events_topic"]),
            [(u.encode(), event_json(u, f"i{n % 60}")) for n, u in enumerate(users)],
        )
        wait_until(
            lambda: (
                a.metric("streamrec_recommendations_total")
                + b.metric("streamrec_recommendations_total")
                >= len(users)
            ),
            90,
            0.5,
            "every event answered",
        )
        assert a.metric("streamrec_recommendations_total") > 0
        assert b.metric("streamrec_recommendations_total") > 0  # each owns some users
        for worker in workers:
            for u in users:
                status, body = worker.get(f"/users/{u}/recommendations", headers=auth)
                assert status == 200, (worker.port, u, body)
                assert orjson.loads(body)["event_count"] == 1
            status, body = worker.get(f"/users/{users[0]}/recommendations")
            assert status == 401, body
            wrong = {"Authorization": "Bearer nope"}
            assert worker.get(f"/users/{users[1]}/recommendations", headers=wrong)[0] == 401
            assert worker.get("/health")[0] == 200  # probes stay open
    finally:
        a.stop()
        b.stop()
