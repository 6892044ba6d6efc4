"""Multiprocess tier: running workers switch models mid-stream; a late worker serves the latest."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

import orjson

from streamrec.models.data.synthetic import generate_events
from streamrec.stream.config.trainer_settings import TrainerSettings
from streamrec.stream.trainer.loop import Trainer
from tests.support.kafka import Broker, free_port, unique_name
from tests.support.models import tiny_checkpoint
from tests.support.stream import Worker, produce, read_topic, wait_until


class OnlineWorker(Worker):
    """``streamrec worker`` with STREAMREC_MODELS_TOPIC set: it follows the models topic."""

    def version(self) -> str:
        return str(orjson.loads(self.get("/ready")[1])["model_version"])


def test_workers_hot_swap_mid_stream_and_late_worker_serves_latest(
    broker: Broker, tmp_path: Path
) -> None:
    app = unique_name("hs")
    models = f"{app}-models"
    s = {
        "app_id": app,
        "events_topic": f"{app}-events",
        "recommendations_topic": f"{app}-recs",
        "dead_letter_topic": f"{app}-dead",
        "models_topic": models,
        "partitions": 2,
        "batch_within_s": 0.02,
        "onnx_threads": 1,
        "log_level": "WARNING",
    }
    stream = generate_events(n_users=30, n_items=60, n_events=400, seed=11)
    items = sorted({e.item_id for e in stream})
    trainer = Trainer(
        TrainerSettings(
            bootstrap=broker.bootstrap,
            app_id=app,
            events_topic=str(s["events_topic"]),
            models_topic=models,
            work_dir=tmp_path / "trainer",
        )
    )
    trainer.open()
    workers: list[OnlineWorker] = []
    try:
        trainer.bootstrap(tiny_checkpoint(items[:40], dropout=0.0), version="v0")
        for n in range(2):
            w = OnlineWorker(
                broker.bootstrap,
                tmp_path / f"w{n}.log",
                free_port(),
                **s,
                data_dir=tmp_path / f"state{n}",
            )
            workers.append(w.start())
        for w in workers:
            w.wait_ready(120)
            assert w.version() == "v0"

        # Events carry their send time as ts, so a recommendation's latency is visible.
        def payloads():  # type: ignore[no-untyped-def]
            for e in stream:
                body = {
                    "user_id": e.user_id,
                    "item_id": e.item_id,
                    "action": e.action.name.lower(),
                    "ts": time.time(),
                }
                yield e.user_id.encode(), orjson.dumps(body)

        positions: list[tuple[int, int]] = []
        sender = threading.Thread(
            target=produce,
            args=(broker.bootstrap, str(s["events_topic"]), payloads()),
            kwargs={"rate": 40.0, "positions": positions},
        )
        sender.start()
        time.sleep(3.0)
        promoted_at = time.time()
        ok, why = trainer.promote(
            tiny_checkpoint(items, seed=1, dropout=0.0), "v1", "test promotion"
        )
        assert ok, why
        wait_until(lambda: all(w.version() == "v1" for w in workers), 60, 0.2, "all on v1")
        switched = time.time() - promoted_at
        sender.join(120)

        recs = read_topic(broker.bootstrap, str(s["recommendations_topic"]), len(stream), 90)
        fresh = [r for r in recs if not r.get("replayed")]
        sources = {(r["source"]["partition"], r["source"]["offset"]) for r in fresh}
        assert sources == set(positions)  # every event answered, none lost
        versions = [r["model_version"] for r in sorted(fresh, key=lambda r: r["emitted_ts"])]
        assert versions[0] == "v0" and versions[-1] == "v1"
        assert "v1" in versions and versions.index("v1") > 0
        per_user = defaultdict(list)
        for r in fresh:
            per_user[r["user_id"]].append(r["event_count"])
        for counts in per_user.values():  # states carried across the swap (re-encoded)
            assert sorted(counts) == list(range(1, len(counts) + 1))
        # New items of v1 are recommended after the swap.
        new = set(items[40:])
        assert any(
            i["item_id"] in new for r in fresh if r["model_version"] == "v1" for i in r["items"]
        )
        latencies = [r["emitted_ts"] - r["event_ts"] for r in fresh]
        swap_latency = [w.metric("streamrec_model_promotion_latency_seconds") for w in workers]
        assert all(0 < x <= 60 for x in swap_latency)
        print(
            f"promotion (export+verify+publish) to every worker serving v1: {switched:.2f} s; "
            f"serving record to swap per worker: {', '.join(f'{x:.2f}' for x in swap_latency)} s; "
            f"event latency max {max(latencies):.3f} s, "
            f"median {sorted(latencies)[len(latencies) // 2]:.3f} s"
        )

        late = OnlineWorker(
            broker.bootstrap,
            tmp_path / "late.log",
            free_port(),
            **s,
            data_dir=tmp_path / "state-late",
        )
        workers.append(late.start())
        late.wait_ready(120)
        assert late.version() == "v1"
    finally:
        for w in workers:
            w.stop()
        trainer.close()
