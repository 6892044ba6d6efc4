"""Broker tier: the bench's load generator paces, stamps and matches every event on a real broker.

The events topic doubles as the "recommendations" topic here, so each published event answers
itself: every event must be matched once, no earlier than it was sent, and the publisher
must hold the offered rate (not send the lot at once, not fall behind).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from streamrec.stream.config.settings import load_settings
from streamrec.stream.records.schemas import encode_event
from streamrec.stream.tools.loadgen import offer
from tests.support.kafka import Broker

EVENTS = 600
RATE = 400.0  # events/s: 1.5 s of publishing


def test_every_event_is_sent_at_the_offered_rate_and_matched_once(
    broker: Broker, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("loadgen", partitions=3)
    settings = load_settings(
        bootstrap=broker.bootstrap, events_topic=topic, recommendations_topic=topic
    )
    messages = [
        (f"u{k % 37}".encode(), encode_event(f"u{k % 37}", "i1", "click", 1.7e9, event_id=f"x{k}"))
        for k in range(EVENTS)
    ]
    offered = offer(settings, messages, "x", RATE, idle_s=5.0)

    assert not np.isnan(offered.sent_at).any()
    assert not np.isnan(offered.answered_at).any()  # each one found by its own id
    assert (offered.latencies_s >= 0).all()
    assert 0.8 * EVENTS / RATE <= offered.publish_s <= 2.0 * EVENTS / RATE
    stamps = offered.sent_at - offered.sent_at[0]
    # paced: the last event leaves about 1.5 s after the first, the middle one about halfway
    assert abs(stamps[EVENTS // 2] - stamps[-1] / 2) < 0.25
