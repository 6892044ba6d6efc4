"""Every setting as data: variable, flag, type, default, description, read from the classes.

The command line builds its flags from these rows and ``docs/settings.md`` is rendered from
them (``make settings-doc``; a unit test keeps the file in sync), so neither is kept by hand.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from streamrec.stream.config.base import DeploymentSettings
from streamrec.stream.config.settings import Settings
from streamrec.stream.config.trainer_settings import TrainerSettings

ENV_PREFIX = "STREAMREC_"
DOC_PATH = Path("docs") / "settings.md"

Kind = Literal["str", "int", "float", "bool", "path", "choice", "list", "secret"]


@dataclass(frozen=True)
class SettingRow:
    """One setting as a user sets it."""

    field: str
    kind: Kind
    default: str  # as a user would write it; "" when unset, "(required)" when required
    description: str
    choices: tuple[str, ...] = ()
    optional: bool = False  # may be left unset (None)
    bounds: str = ""  # e.g. ">= 1, <= 255"

    @property
    def env(self) -> str:
        """The environment variable."""
        return ENV_PREFIX + self.field.upper()

    @property
    def flag(self) -> str:
        """The command-line flag."""
        return "--" + self.field.replace("_", "-")

    @property
    def required(self) -> bool:
        """Whether the setting has no default."""
        return self.default == "(required)"


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def _kind(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin is Literal:
        return "choice", tuple(str(a) for a in typing.get_args(annotation))
    if origin in (tuple, list):
        return "list", ()
    simple: dict[Any, Kind] = {
        bool: "bool",
        int: "int",
        float: "float",
        Path: "path",
        str: "str",
        SecretStr: "secret",
    }
    if annotation in simple:
        return simple[annotation], ()
    raise TypeError(f"no setting kind for {annotation!r}")


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row(name: str, info: FieldInfo) -> SettingRow:
    annotation, optional = _strip_optional(info.annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    kind, choices = _kind(annotation)
    if info.default is PydanticUndefined and info.default_factory is None:
        default = "(required)"
    else:
        default = _show(info.get_default(call_default_factory=True))
    return SettingRow(name, kind, default, info.description or "", choices, optional, _bounds(info))


def _bounds(info: FieldInfo) -> str:
    signs = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    parts = []
    for item in info.metadata:
        for attr, sign in signs.items():
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {_show(value)}")
    return ", ".join(parts)


def setting_rows(cls: type[BaseSettings], *, skip: Iterable[str] = ()) -> list[SettingRow]:
    """The settings of ``cls`` in declaration order, without those named in ``skip``."""
    skipped = set(skip)
    return [_row(n, f) for n, f in cls.model_fields.items() if n not in skipped]


def shared_rows() -> list[SettingRow]:
    """What worker and trainer share (the deployment)."""
    return setting_rows(DeploymentSettings)


def own_rows(cls: type[DeploymentSettings]) -> list[SettingRow]:
    """Settings of one process that the deployment base does not declare, or redeclares."""
    base = {r.field: r for r in shared_rows()}
    return [r for r in setting_rows(cls) if base.get(r.field) != r]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[SettingRow]) -> list[str]:
    lines = ["| variable | flag | type | default | meaning |", "|---|---|---|---|---|"]
    for r in rows:
        kind = "one of " + ", ".join(f"`{c}`" for c in r.choices) if r.choices else r.kind
        if r.kind == "list":
            kind = "comma-separated list"
        if r.bounds:
            kind = f"{kind}, {r.bounds}"
        flag = "env only" if r.kind == "secret" else f"`{r.flag}`"
        default = f"`{r.default}`" if r.default and not r.required else r.default or "unset"
        lines.append(
            f"| `{r.env}` | {flag} | {_cell(kind)} | {_cell(default)} | {_cell(r.description)} |"
        )
    return lines


def render_markdown() -> str:
    """The settings reference page, ``docs/settings.md``."""
    out = [
        "# Settings reference",
        "",
        "<!-- generated from stream/config by `make settings-doc`; a unit test keeps it in "
        "sync -->",
        "",
        "Every setting is read from a `STREAMREC_*` environment variable; the command that "
        "runs the process also takes it as a flag, which wins over the variable. Secrets are "
        "read from the environment only (a flag would show in the process list). List "
        "settings take comma-separated values (`STREAMREC_EXCLUDE_ACTIONS=buy,cart`). "
        "`streamrec config` prints the settings in effect, with secrets masked. An invalid "
        "value stops the process at start with one line naming the variable and what it "
        "accepts.",
        "",
        "## Deployment (worker and trainer)",
        "",
        "One environment configures a whole deployment: the workers (`streamrec worker`) and "
        "the online trainer (`streamrec trainer`) read these alike.",
        "",
        *_table(shared_rows()),
        "",
        "## Worker (`streamrec worker`)",
        "",
        *_table(own_rows(Settings)),
        "",
        "## Online trainer (`streamrec trainer`)",
        "",
        *_table(own_rows(TrainerSettings)),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) ``docs/settings.md``."""
    parser = argparse.ArgumentParser(description="Render the settings reference.")
    parser.add_argument("--out", type=Path, default=DOC_PATH, help="page to write")
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    text = render_markdown()
    if args.check:
        stale = not args.out.is_file() or args.out.read_text() != text
        if stale:
            print(f"{args.out} is stale: run `make settings-doc`", file=sys.stderr)
        return int(stale)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
