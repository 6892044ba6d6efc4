"""The trainer's HTTP endpoints: /metrics from its registry, /health failing once the loop stands
still too long, /ready once its topics are open."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest

from streamrec.stream.trainer.metrics import TrainerMetrics, TrainerStatus
from streamrec.stream.trainer.web import TrainerWeb


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served() -> Iterator[tuple[TrainerWeb, Clock]]:
    clock = Clock()
    web = TrainerWeb("127.0.0.1", 0, TrainerMetrics(), TrainerStatus(), 60.0, clock).start()
    try:
        yield web, clock
    finally:
        web.close()


def get(web: TrainerWeb, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web.port}{path}", timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_ready_once_open_and_health_fails_when_the_loop_stands_still(
    served: tuple[TrainerWeb, Clock],
) -> None:
    web, clock = served
    assert get(web, "/ready")[0] == 503
    web.status.ready = True
    assert get(web, "/ready")[0] == 200
    assert get(web, "/health")[0] == 200  # not gone round yet: starting, not stuck
    web.status.loop_seen = clock.now
    web.status.active, web.status.serving = True, "v3"
    status, body = get(web, "/health")
    assert status == 200
    assert orjson.loads(body) == {
        "status": "ok",
        "active": True,
        "serving": "v3",
        "rounds": 0,
        "loop_age_s": 0.0,
    }
    clock.now += 61
    status, body = get(web, "/health")
    assert status == 503 and orjson.loads(body)["status"] == "stalled"
    assert get(web, "/nope")[0] == 404


def test_metrics_show_the_loop_and_the_rounds(served: tuple[TrainerWeb, Clock]) -> None:
    web, _ = served
    web.metrics.beat(web.status, True, "v1")
    web.metrics.events.inc(5)
    web.metrics.round_done(promoted=True, seconds=12.0)
    web.metrics.round_done(promoted=False, seconds=3.0)
    status, body = get(web, "/metrics")
    text = body.decode()
    assert status == 200
    assert "streamrec_trainer_active 1.0" in text
    assert 'streamrec_trainer_rounds_total{outcome="promoted"} 1.0' in text
    assert 'streamrec_trainer_rounds_total{outcome="rejected"} 1.0' in text
    assert "streamrec_trainer_events_total 5.0" in text
    assert web.status.active and web.status.serving == "v1" and web.status.loop_seen > 0
