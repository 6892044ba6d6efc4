"""Command-line flags made from the settings classes: every setting, its variable and default.

A process command (``worker``, ``trainer``) takes every setting of its class as a flag, so its
``--help`` lists them all, generated from the same rows as ``docs/settings.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streamrec.stream.config.base import DeploymentSettings
from streamrec.stream.config.reference import SettingRow, own_rows, shared_rows

_TYPES: dict[str, Any] = {"int": int, "float": float, "path": Path, "str": str, "list": str}
_METAVARS = {"int": "N", "float": "X", "path": "PATH", "str": "TEXT", "list": "A,B"}


def setting_help(row: SettingRow) -> str:
    """A flag's help: the description, what it accepts, its default and its variable."""
    accepts = f"; {row.bounds}" if row.bounds else ""
    if row.kind == "list":
        accepts = "; comma-separated"
    default = "required" if row.required else f"default: {row.default or 'unset'}"
    text = f"{row.description} ({default}{accepts}; env {row.env})"
    return text.replace("%", "%%")  # argparse %-formats help texts


def add_row(parser: argparse.ArgumentParser | Any, row: SettingRow) -> None:
    """One setting as a flag whose value, when given, overrides the environment."""
    kwargs: dict[str, Any] = {"dest": row.field, "default": None, "help": setting_help(row)}
    if row.kind == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction
    elif row.kind == "choice":
        kwargs["choices"] = row.choices
    else:
        kwargs["type"] = _TYPES[row.kind]
        kwargs["metavar"] = _METAVARS[row.kind]
    parser.add_argument(row.flag, **kwargs)


def add_settings_flags(
    parser: argparse.ArgumentParser, cls: type[DeploymentSettings], title: str
) -> list[SettingRow]:
    """Flags of every setting of ``cls`` (secrets stay env-only) in two groups; their rows."""
    rows: list[SettingRow] = []
    own = own_rows(cls)
    own_fields = {r.field for r in own}
    shared = [r for r in shared_rows() if r.field not in own_fields]
    for group_title, group_rows in (
        ("deployment (shared by workers and the trainer)", shared),
        (title, own),
    ):
        secrets = [r.env for r in group_rows if r.kind == "secret"]
        note = (
            f"Secrets are read from the environment only: {', '.join(secrets)}."
            if secrets
            else None
        )
        group = parser.add_argument_group(group_title, note)
        for row in group_rows:
            if row.kind != "secret":
                add_row(group, row)
                rows.append(row)
    return rows


def setting_overrides(args: argparse.Namespace, rows: list[SettingRow]) -> dict[str, Any]:
    """The settings given on the command line (the rest come from the environment)."""
    return {r.field: getattr(args, r.field) for r in rows if getattr(args, r.field) is not None}
