"""Unit tier: JSON log lines, one object per line, tracebacks included as a field."""

from __future__ import annotations

import logging
import sys

import orjson

from streamrec.stream.config.settings import Settings
from streamrec.stream.worker.logs import JsonLogFormatter, logging_config


def test_a_record_is_one_json_object_with_its_traceback() -> None:
    record = logging.LogRecord(
        "streamrec.x", logging.ERROR, __file__, 1, "failed on %s", ("u\n1",), None
    )
    try:
        raise ValueError("bad\ninput")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonLogFormatter().format(record)
    assert "\n" not in line  # one line, whatever the message or traceback holds
    obj = orjson.loads(line)
    assert obj["level"] == "ERROR" and obj["logger"] == "streamrec.x"
    assert obj["message"] == "failed on u\n1"
    assert "ValueError: bad" in obj["exception"]
    assert obj["time"].endswith("+00:00") and isinstance(obj["process"], int)


def test_text_keeps_the_default_set_up_and_json_names_the_level() -> None:
    assert logging_config(Settings()) is None
    config = logging_config(Settings(log_format="json", log_level="info"))
    assert config is not None
    assert config["root"]["level"] == "INFO"
    assert config["formatters"]["json"]["()"] is JsonLogFormatter
