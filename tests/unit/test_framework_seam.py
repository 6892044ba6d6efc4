"""Unit tier: the Faust, aiokafka and rocksdict internals ``stream/transport`` relies on.

Version bounds in ``pyproject.toml`` say which releases were tried; this test says *what* was
relied on, and fails with the name of the internal when an installed release no longer has
it or no longer behaves so. Each check names the module of ours that needs it.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.producer.producer import AIOKafkaProducer
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from streamrec.stream.serving.table_writes import TableWriter
from streamrec.stream.transport.producing import BatchSender
from streamrec.stream.transport.store import TableStore, bind_event

# (owner, attribute, parameters after self or None, which module of ours needs it)
CONSUMER = faust_aiokafka.Consumer
RELIED_ON: list[tuple[Any, str, list[str] | None, str]] = [
    (CONSUMER, "_drain_messages", ["fetcher"], "delivery: overridden"),
    (CONSUMER, "_wait_next_records", ["timeout"], "delivery: one fetch"),
    (CONSUMER, "_to_message", ["tp", "record"], "delivery: a record as a Faust message"),
    (CONSUMER, "track_message", ["message"], "delivery: inbox messages tracked"),
    (CONSUMER, "ack", ["message"], "worker.app: inbox messages acked"),
    (CONSUMER, "_get_active_partitions", [], "delivery: paused partitions held"),
    (CONSUMER, "_add_gap", ["tp", "offset_from", "offset_to"], "delivery: real gaps"),
    (CONSUMER, "seek_to_committed", [], "delivery: overridden"),
    (CONSUMER, "perform_seek", [], "delivery: overridden"),
    (CONSUMER, "seek", ["partition", "offset"], "delivery: overridden"),
    (CONSUMER, "seek_wait", ["partitions"], "delivery: overridden"),
    (CONSUMER, "_seek", ["partition", "offset"], "delivery: seeks of the client"),
    (CONSUMER, "highwater", ["tp"], "delivery, processor: end offsets"),
    (faust_aiokafka.Producer, "_settings_extra", [], "delivery: idempotent producer"),
    (faust_aiokafka.Producer, "_ensure_producer", [], "producing: the aiokafka producer"),
    (AIOKafkaProducer, "create_batch", [], "producing: one batch per partition"),
    (AIOKafkaProducer, "send_batch", ["batch", "topic", "partition"], "producing"),
    (AIOKafkaProducer, "partitions_for", ["topic"], "producing: partition count"),
    (faust.App, "_new_transport", [], "delivery: our transport"),
    (CONSUMER, "_new_consumer_thread", [], "delivery: our consumer thread"),
    (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer", ["transport"], "delivery"),
    (faust_aiokafka.AIOKafkaConsumerThread, "on_start", [], "delivery: prefetch hold"),
]


@pytest.mark.parametrize(
    ("owner", "name", "params", "needed_by"),
    RELIED_ON,
    ids=[f"{o.__name__}.{n}" for o, n, _, _ in RELIED_ON],
)
def test_each_internal_relied_on_is_there(
    owner: Any, name: str, params: list[str] | None, needed_by: str
) -> None:
    member = getattr(owner, name, None)
    assert member is not None, f"{owner.__qualname__}.{name} is gone ({needed_by})"
    if params is not None:
        found = [p for p in inspect.signature(member).parameters if p != "self"]
        assert found[: len(params)] == params, (
            f"{owner.__qualname__}.{name}{found} no longer takes {params} ({needed_by})"
        )


def test_the_consumer_state_delivery_reads_is_there() -> None:
    app = faust.App("seam-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    consumer: Any = app.consumer
    for name in ("_read_offset", "_committed_offset", "_buffered_partitions", "_acked"):
        assert hasattr(consumer, name), f"Consumer.{name} is gone (delivery)"
    assert hasattr(consumer, "_unacked_messages"), "revokes wait for tracked messages (batching)"
    assert isinstance(consumer._commit_every, int | type(None))
    message = _message(3)
    consumer.track_message(message)
    assert message in consumer._unacked_messages  # a revoke waits for it
    assert hasattr(FaustConsumer, "wait_empty"), "revokes wait for tracked messages (batching)"


def test_the_broker_client_reads_its_fetch_wait_when_it_starts() -> None:
    # delivery.TunedConsumerThread sets it on the client after Faust built it.
    async def build() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1234)

    assert asyncio.run(build())._fetch_max_wait_ms == 1234
    start = inspect.getsource(AIOKafkaConsumer.start)
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in start, "fetcher built elsewhere"


def test_the_fetcher_holds_a_broker_while_its_records_wait_within_the_prefetch_backoff() -> None:
    # delivery.hold_prefetched raises the backoff on the started client's fetcher: the
    # fetcher must read it for each fetch result and skip a broker with records inside it.
    assert "backoff=self._prefetch_backoff" in inspect.getsource(Fetcher)
    plan = inspect.getsource(Fetcher._get_actions_per_node)
    assert "calculate_backoff" in plan and "backoff_by_nodes" in plan, "fetch planning changed"
    on_start = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread.on_start)
    assert "self._consumer" in on_start and ".start()" in on_start, "client started elsewhere"


class Bound:
    """What Faust's tables read of an event: its message (a stand-in for one)."""

    def __init__(self, message: Message) -> None:
        self.message = message


def _message(partition: int, topic: str = "events") -> Message:
    return Message(topic, partition, 0, 0.0, 0, None, b"k", b"v", None)


def test_faust_tables_and_the_direct_store_see_the_same_partitions(tmp_path: Path) -> None:
    app = faust.App(
        "seam-test",
        broker="kafka://127.0.0.1:1",
        store="rocksdb://",
        datadir=str(tmp_path),
        autodiscover=False,
    )
    table = app.Table("states", default=None, key_type=bytes, value_type=bytes, partitions=4)
    direct = TableStore(table)
    direct.put(3, [(b"alice", b"A"), (b"bob", b"B")])
    store: Any = table.data
    bound = Bound(_message(3))
    bind_event(bound)  # Faust's store reads the partition of the current event
    assert store[b"alice"] == b"A" and store[b"bob"] == b"B"
    other = Bound(_message(2))  # Faust holds the current event weakly: keep it alive
    bind_event(other)
    store[b"carol"] = b"C"  # Faust's own write, bound to partition 2
    assert direct.get(2, b"carol") == b"C" and direct.get(3, b"carol") is None
    assert sorted(direct.opened()) == [2, 3]
    assert dict(direct.items(3)) == {b"alice": b"A", b"bob": b"B"}
    assert direct.get_many(3, [b"bob", b"nobody", b"alice"]) == [b"B", None, b"A"]
    writer = TableWriter(app, table, BatchSender(app))
    asked = [(3, b"alice"), (2, b"carol"), (3, b"carol"), (2, b"alice"), (3, b"bob")]
    assert writer.read_many(asked) == [b"A", b"C", None, None, b"B"]  # in the order asked
    direct.delete(3, b"bob")
    assert direct.get(3, b"bob") is None
    direct.set_persisted_offset(3, 41)
    changelog = table.changelog_topic.get_topic_name()
    assert store.persisted_offset(TP(changelog, 3)) == 41  # recovery resumes after it
