"""Broker tier: an item announced on the items topic shows up in recommendations, no retraining."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from tests.item_support import text_encoder_dir
from tests.kafka_fixtures import Broker, free_port, unique_name
from tests.stream_support import Worker, event_json, produce, tiny_bundle

pytestmark = pytest.mark.broker
__all__ = ["text_encoder_dir", "tiny_bundle"]


def text_dir(tmp_path: Path, encoder: Path, bundle: Path, title: str) -> Path:
    """Encoder files plus a projection sending ``title`` to 100x the tiny model's usual top item.

    (An untrained model scores every user alike; a random projection could land the new item
    last for everyone. This one makes it a top item, which is what the plumbing test needs.)
    """
    from export.item_rows import ITEM_TABLE, ItemRowScorer
    from export.runtime import StepSession
    from export.text_runtime import TextEncoder
    from models.text_fusion import TextSide

    out = tmp_path / "text"
    out.mkdir()
    for name in ("text_encoder.onnx", "tokenizer.json"):
        (out / name).symlink_to(encoder / name)
    scorer = ItemRowScorer.from_session(StepSession.open(bundle, provider="cpu"))
    top = scorer.run(np.array([2]), np.ones(1, np.int64), np.zeros((1, scorer.state_size)))
    direction = scorer.array(ITEM_TABLE)[int(top.top_items[0, 0])]
    text = TextEncoder(out, cache_size=0).encode([title])[0]
    weight = 100.0 * np.outer(direction, text).astype(np.float32)  # (E, T): t -> 100 direction
    TextSide("sum", weight, np.zeros(len(direction), np.float32)).save(str(out / "text_side.npz"))
    return out


def test_announced_item_reaches_top_k(
    broker: Broker, tiny_bundle: Path, text_encoder_dir: Path, tmp_path: Path
) -> None:
    from kafka import KafkaConsumer, TopicPartition

    from models.catalog import ItemRecord
    from stream.items import publish_items
    from stream.settings import load_settings

    new = ItemRecord(
        item_id="brand-new-1",
        title="ultralight carbon trail running shoes",
        category="running",
        brand="Acme",
        price=129.0,
        description=None,
    )
    app = unique_name("app")
    s = {
        "app_id": app,
        "events_topic": f"{app}-events",
        "recommendations_topic": f"{app}-recs",
        "dead_letter_topic": f"{app}-dead",
        "models_topic": f"{app}-models",
        "items_topic": f"{app}-items",
        "item_text_dir": text_dir(tmp_path, text_encoder_dir, tiny_bundle, new.text()),
        "new_item_bias_quantile": 1.0,
        "partitions": 2,
        "bundle": tiny_bundle,
        "data_dir": tmp_path / "state",
        "batch_within_s": 0.02,
    }
    worker = Worker(broker.bootstrap, tmp_path / "worker.log", free_port(), **s).start()
    try:
        worker.wait_ready()
        settings = load_settings(bootstrap=broker.bootstrap, items_topic=s["items_topic"])
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=200)
        recs_topic = str(s["recommendations_topic"])
        produce(broker.bootstrap, str(s["events_topic"]), [(b"u0", event_json("u0", "i1"))])
        parts = None
        while not parts:
            parts = consumer.partitions_for_topic(recs_topic)
        consumer.assign([TopicPartition(recs_topic, p) for p in parts])
        consumer.seek_to_end()
        announced = time.monotonic()
        publish_items(settings, [new])
        seen_at, n = None, 0
        while seen_at is None and time.monotonic() - announced < 60:
            users = [f"u{n * 8 + j}" for j in range(8)]  # fresh users, a few events a second
            events = [(u.encode(), event_json(u, f"i{(n + j) % 60}")) for j, u in enumerate(users)]
            produce(broker.bootstrap, str(s["events_topic"]), events)
            n += 1
            for msg in consumer:
                rec = orjson.loads(msg.value)
                if any(i["item_id"] == new.item_id for i in rec["items"]):
                    seen_at = time.monotonic()
                    break
        consumer.close()
        assert seen_at is not None, f"new item never recommended; see {worker.log}"
        latency = seen_at - announced
        print(f"announce -> in a top-K: {latency:.2f} s")
        assert latency < 30  # target 10 s; generous for a loaded shared test machine
        assert "cold start: 1 item rows live" in (tmp_path / "worker.log").read_text()
    finally:
        worker.stop()
