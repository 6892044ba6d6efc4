"""Log lines of the worker and the trainer: text for people, or one JSON object per line.

``STREAMREC_LOG_FORMAT=json`` applies to every line the process writes through
``logging`` (its own, Faust's, aiokafka's), from start-up on: :func:`use_log_format` sets the
root logger's handler before anything else runs, and :func:`logging_config` hands the same
set-up to Faust's worker, which rebuilds logging when it starts.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

import orjson

from streamrec.stream.config.base import DeploymentSettings


class JsonLogFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "process"[, "exception"][, "stack"]}``."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object, no newline inside (tracebacks are a string field)."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(settings: DeploymentSettings) -> dict[str, Any] | None:
    """A :func:`logging.config.dictConfig` for the chosen format (None: the default text)."""
    if settings.log_format == "text":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLogFormatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": settings.log_level.upper(), "handlers": ["default"]},
    }


def use_log_format(settings: DeploymentSettings) -> None:
    """Switch this process's logging to the settings' format now (no-op for text)."""
    config = logging_config(settings)
    if config is not None:
        logging.root.handlers.clear()
        logging.config.dictConfig(config)
