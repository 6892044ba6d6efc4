"""How every ``--help`` reads: each flag shows its default, given once for the whole tree."""

from __future__ import annotations

import argparse


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to a flag's help unless it has none or already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is argparse.SUPPRESS
            or isinstance(default, bool)
            or (not action.option_strings and action.nargs not in ("?", "*"))
        ):
            return action.help
        shown = "'%(default)s'" if default == "" else "%(default)s"
        return f"{text} (default: {shown})"


class RawDefaultsFormatter(argparse.RawDescriptionHelpFormatter, DefaultsFormatter):
    """:class:`DefaultsFormatter` that keeps a description's own line breaks."""


def subparsers_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of ``parser``'s subcommands (one level)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:  # argparse keeps subcommands only in private members
        if isinstance(action, argparse._SubParsersAction):
            found.extend(action.choices.values())
    return found


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every subcommand below it a defaults-showing help formatter."""
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter)  # type: ignore[arg-type]
    parser.formatter_class = RawDefaultsFormatter if raw else DefaultsFormatter
    for sub in subparsers_of(parser):
        show_defaults(sub)


def all_parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """``(command path, parser)`` for the tree under ``parser`` (tests walk every help)."""
    out: list[tuple[str, argparse.ArgumentParser]] = [(parser.prog, parser)]
    for sub in subparsers_of(parser):
        out.extend(all_parsers(sub))
    return out
