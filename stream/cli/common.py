"""What every subcommand module builds its parsers with: the bench group and the shared flags."""

from __future__ import annotations

import argparse
from typing import Any

Subparsers = argparse._SubParsersAction  # argparse's own (private) type of add_subparsers()

KAFKA_FLAGS = {
    "bootstrap": "Kafka bootstrap servers, comma-separated host:port",
    "app_id": "deployment id: consumer group and prefix of internal topics",
}
TOPIC_FLAGS = {
    "events_topic": "input events topic",
    "recommendations_topic": "output recommendations topic",
    "models_topic": "compacted models topic (versions and serving history)",
    "items_topic": "compacted item catalog topic",
}


def kafka_flags(p: argparse.ArgumentParser, *topics: str) -> None:
    """``--bootstrap``, ``--app-id`` and the named topic flags, each naming its variable."""
    for field, text in {**KAFKA_FLAGS, **{t: TOPIC_FLAGS[t] for t in topics}}.items():
        flag = "--" + field.replace("_", "-")
        p.add_argument(flag, dest=field, help=f"{text} (env STREAMREC_{field.upper()})")


def overrides(args: argparse.Namespace, *fields: str) -> dict[str, Any]:
    """The given settings fields as set on the command line (unset ones left to the env)."""
    names = (*KAFKA_FLAGS, *TOPIC_FLAGS, *fields)
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
