"""What every subcommand module builds its parsers with: the bench group and the shared flags."""

from __future__ import annotations

import argparse
from typing import Any, TypeVar

from streamrec.stream.cli.settings_flags import add_row
from streamrec.stream.config.base import DeploymentSettings
from streamrec.stream.config.reference import setting_rows
from streamrec.stream.config.settings import Settings

S = TypeVar("S", bound=DeploymentSettings)

Subparsers = argparse._SubParsersAction  # argparse's own (private) type of add_subparsers()

KAFKA_FLAGS = ("bootstrap", "app_id")
TOPIC_FLAGS = ("events_topic", "recommendations_topic", "models_topic", "items_topic")


def kafka_flags(p: argparse.ArgumentParser, *fields: str) -> None:
    """``--bootstrap`` and the named Kafka settings (``app_id``, topics), as documented."""
    rows = {r.field: r for r in setting_rows(Settings)}
    for field in ("bootstrap", *fields):
        if field not in TOPIC_FLAGS and field not in KAFKA_FLAGS:
            raise ValueError(f"{field} is not a Kafka or topic setting")
        add_row(p, rows[field])


def reachable(settings: S) -> S:
    """``settings`` once Kafka has taken a connection made with them (else one-line error)."""
    from streamrec.stream.transport.access import check_access

    check_access(settings.kafka)
    return settings


def overrides(args: argparse.Namespace, *fields: str) -> dict[str, Any]:
    """The given settings fields as set on the command line (unset ones left to the env)."""
    names = (*KAFKA_FLAGS, *TOPIC_FLAGS, *fields)
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
