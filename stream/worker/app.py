"""The Faust app: topics, the user-state table, the agents and the HTTP views, wired from settings.

``create_app(settings, model, partitions)`` builds everything and registers nothing at
import time, so tests build apps against their own broker, topics and app ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import faust
from faust.types import Message, StreamT, TableT, TopicT

from streamrec.stream.config.settings import Settings
from streamrec.stream.serving.expiry import sweep_idle_states
from streamrec.stream.serving.metrics import Metrics
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.outbox import Health, Outbox
from streamrec.stream.serving.processor import BatchProcessor
from streamrec.stream.serving.slot import ModelSlot
from streamrec.stream.transport.batching import Inbox, consume_batches
from streamrec.stream.transport.delivery import StreamrecApp
from streamrec.stream.worker.lag import LagMonitor
from streamrec.stream.worker.sensors import faust_sensors
from streamrec.stream.worker.web import is_ready, register_views


@dataclass
class StreamApp:
    """The app with the parts tests and the CLI reach into."""

    app: faust.App
    table: TableT[bytes, bytes]
    events: TopicT
    repartitioned: TopicT
    processor: BatchProcessor
    slot: ModelSlot
    metrics: Metrics
    health: Health


def _raw_topic(app: faust.App, name: str, partitions: int) -> TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


def create_app(
    settings: Settings, model: ServingModel, partitions: int, events_topic_id: str = ""
) -> StreamApp:
    """Build the worker's Faust app.

    ``partitions``: the events topic's partition count; ``events_topic_id``: its Kafka topic
    id, part of the identity under which each user's applied offsets are stored.
    """
    metrics = Metrics()
    app = StreamrecApp(
        settings.app_id,
        monitor=faust_sensors(metrics.registry).monitor if settings.faust_metrics else None,
        broker=[f"kafka://{b}" for b in settings.bootstrap_servers],
        broker_credentials=settings.kafka.faust_credentials(),
        store="rocksdb://",
        datadir=str(settings.data_dir / settings.app_id),
        topic_partitions=partitions,
        topic_replication_factor=settings.replication,
        table_standby_replicas=settings.standby_replicas,
        broker_commit_interval=settings.commit_interval_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        producer_linger=settings.producer_linger_ms / 1000.0,
        producer_max_batch_size=settings.producer_batch_bytes,
        producer_acks=-1,
        producer_request_timeout=settings.send_timeout_s,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=settings.advertised_url,  # what table routing forwards requests to
        web_in_thread=False,
        autodiscover=False,
        stream_buffer_maxsize=max(4096, 2 * settings.batch_max),
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    events = _raw_topic(app, settings.events_topic, partitions)
    repartitioned = _raw_topic(app, settings.repartition_topic, partitions)
    table: TableT[bytes, bytes] = app.Table(
        settings.table_name,
        default=None,
        key_type=bytes,  # bytes types select Faust's "raw" codecs
        value_type=bytes,
        partitions=partitions,
        help="Per-user recurrent state (streamrec.stream.serving.state encoding).",
    )
    health = Health()
    outbox = Outbox(metrics, health)
    slot = ModelSlot(model, metrics.model)
    processor = BatchProcessor(
        app, settings, slot, table, partitions, metrics, outbox, events_topic_id
    )

    # The consumer puts these topics' messages into inboxes (whole fetches, no Faust event,
    # channel or stream per message); the agents' streams only subscribe the topics.
    direct_inbox = app.inboxes[events.get_topic_name()] = Inbox(settings.batch_max)
    by_user_inbox = app.inboxes[repartitioned.get_topic_name()] = Inbox(settings.batch_max)
    on_message_out = app.sensors.on_message_out

    def acknowledge(message: Message) -> None:
        if app.consumer.ack(message):
            on_message_out(message.tp, message.offset, message)

    async def direct(stream: StreamT[bytes]) -> None:
        async def handle(batch: Sequence[Message]) -> asyncio.Future[None] | None:
            return await processor.handle(batch, repartitioned=False)

        await consume_batches(direct_inbox, handle, acknowledge, settings.batch_within_s)

    async def by_user(stream: StreamT[bytes]) -> None:
        async def handle(batch: Sequence[Message]) -> asyncio.Future[None] | None:
            return await processor.handle(batch, repartitioned=True)

        await consume_batches(by_user_inbox, handle, acknowledge, settings.batch_within_s)

    if settings.state_ttl_s is not None:
        ttl_s = settings.state_ttl_s

        async def expire_idle() -> None:
            if is_ready(app):
                writer = processor.writer
                await sweep_idle_states(writer, outbox, metrics, ttl_s, settings.state_ttl_batch)

        app.timer(settings.state_ttl_sweep_s, name="expire-idle-states")(expire_idle)

    lag = LagMonitor(app, metrics, (events.get_topic_name(), repartitioned.get_topic_name()))

    async def refresh_lag() -> None:
        if is_ready(app):
            await lag.refresh()

    app.timer(settings.lag_refresh_s, name="refresh-consumer-lag")(refresh_lag)
    app.agent(events, name="apply-events")(direct)
    app.agent(repartitioned, name="apply-repartitioned")(by_user)
    token = settings.web_token.get_secret_value() if settings.web_token is not None else None
    register_views(app, table, processor, metrics, health, token)
    return StreamApp(app, table, events, repartitioned, processor, slot, metrics, health)
