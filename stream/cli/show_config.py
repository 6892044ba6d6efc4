"""``streamrec config``: the settings a worker or the trainer would run with, secrets masked."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import SecretStr

from streamrec.stream.cli.common import Subparsers
from streamrec.stream.cli.settings_flags import add_settings_flags, setting_overrides
from streamrec.stream.config.reference import setting_rows
from streamrec.stream.config.settings import Settings
from streamrec.stream.config.trainer_settings import TrainerSettings

MASK = "********"


def register(sub: Subparsers[Any]) -> None:
    """``config worker`` and ``config trainer``."""
    c = sub.add_parser(
        "config",
        help="print the effective settings of a worker or the trainer, secrets masked",
        description="Resolve the settings exactly as `streamrec worker` or `streamrec "
        "trainer` would from STREAMREC_* variables and the flags given here, and print them "
        "one per line as VARIABLE=value. Secrets print as ******** when set. An invalid "
        "value fails here as it would at start.",
    )
    csub: Subparsers[Any] = c.add_subparsers(dest="config_of", metavar="PROCESS", required=True)
    for name, cls in (("worker", Settings), ("trainer", TrainerSettings)):
        p = csub.add_parser(
            name, help=f"settings of `streamrec {name}`", usage="%(prog)s [--json] [options]"
        )
        p.add_argument("--json", action="store_true", help="one JSON object instead of lines")
        rows = add_settings_flags(p, cls, name)
        p.set_defaults(handler=_config, settings_class=cls, setting_rows=rows)


def effective(settings: Settings | TrainerSettings) -> dict[str, str]:
    """``{VARIABLE: value}`` of every setting, secrets masked, unset ones empty."""
    out: dict[str, str] = {}
    for row in setting_rows(type(settings)):
        value = getattr(settings, row.field)
        if isinstance(value, SecretStr):
            shown = MASK
        elif value is None:
            shown = ""
        elif isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, tuple):
            shown = ",".join(str(v) for v in value)
        else:
            shown = str(value)
        out[row.env] = shown
    return out


def _config(args: argparse.Namespace) -> int:
    import orjson

    cls: type[Settings | TrainerSettings] = args.settings_class
    values = effective(cls(**setting_overrides(args, args.setting_rows)))
    if args.json:
        print(orjson.dumps(values, option=orjson.OPT_INDENT_2).decode())
    else:
        for name, value in values.items():
            print(f"{name}={value}")
    return 0
