"""The publisher ``streamrec publish`` and the benches use: acks=all with idempotence on, so
kafka-python has no reason to warn that it turned idempotence off."""

from __future__ import annotations

import logging

import pytest

from streamrec.stream.config.settings import Settings
from streamrec.stream.tools.clients import producer
from tests.support.kafka import Broker


def test_the_publisher_is_idempotent_with_acks_all(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kafka")
    made = producer(Settings(bootstrap=broker.bootstrap))
    try:
        assert made.config["acks"] == -1
        assert made.config["enable_idempotence"] is True
    finally:
        made.close()
    warned = [r.getMessage() for r in caplog.records if "dempotence" in r.getMessage()]
    assert not warned
