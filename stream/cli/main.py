"""The ``streamrec`` command line: one entry point, subcommands registered by each concept.

Each ``*.commands`` module exposes ``register(subparsers)`` and imports its heavy
dependencies (torch, faust, onnxruntime) only inside the handlers, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

COMMAND_MODULES = (
    "streamrec.stream.cli.train",
    "streamrec.stream.cli.export",
    "streamrec.stream.cli.serve",
    "streamrec.stream.cli.distribute",
    "streamrec.stream.cli.items",
    "streamrec.stream.cli.chaos",
    "streamrec.stream.cli.bench",
)

DESCRIPTION = """\
streamrec: a real-time sequential recommender running as a Kafka stream processor.

Typical flow:
  streamrec train --data events.csv --format csv --out model.pt   train a GRU model
  streamrec export model.pt bundle/                                verified ONNX bundle
  streamrec worker --bundle bundle/                                serve from Kafka
Run `streamrec COMMAND --help` for the inputs, formats and outputs of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="streamrec",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per invalid setting, named as the user sets it (variable and flag)."""
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        flag = "--" + field.replace("_", "-")
        lines.append(f"STREAMREC_{field.upper()} ({flag}): {err['msg']}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if args.command is None else 2
    from pydantic import ValidationError

    try:
        return int(handler(args) or 0)
    except ValidationError as exc:
        for line in settings_errors(exc):
            print(f"streamrec {args.command}: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
