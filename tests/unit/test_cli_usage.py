"""The command line as a user meets it: help, version, verbosity, settings, names."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamrec.stream.cli.help import all_parsers
from streamrec.stream.cli.main import build_parser, main
from streamrec.stream.config.reference import DOC_PATH, render_markdown, setting_rows
from streamrec.stream.config.settings import Settings
from streamrec.stream.config.trainer_settings import TrainerSettings

REPO = Path(__file__).resolve().parents[2]

# Several names for one idea, each replaced by the one the commands share.
RETIRED_FLAGS = {
    "--work": "--work-dir",
    "--encoder": "--text-encoder",
    "--max": "--limit",
    "--port": "--web-port",
    "--train-seconds": "--time-budget",
}


def _flags(parser: object) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}  # type: ignore[attr-defined]


def test_every_help_renders_without_escapes_or_machine_paths() -> None:
    for prog, parser in all_parsers(build_parser()):
        text = parser.format_help()
        assert "%%" not in text and "%(" not in text, prog
        assert "/work/" not in text and str(Path.home()) + "/" not in text.replace("~", ""), prog


def test_defaults_are_shown_in_help() -> None:
    helps = dict(all_parsers(build_parser()))
    assert "(default: 1000)" in helps["streamrec generate"].format_help()
    assert "(default: 3)" in helps["streamrec bench stream"].format_help()


def test_one_flag_name_per_idea() -> None:
    for prog, parser in all_parsers(build_parser()):
        retired = _flags(parser) & RETIRED_FLAGS.keys()
        assert not retired, f"{prog}: {sorted(retired)} (use {RETIRED_FLAGS})"
        # --version is the program's; a model version is --model-version
        assert prog == "streamrec" or "--version" not in _flags(parser), prog


@pytest.mark.parametrize(("command", "cls"), [("worker", Settings), ("trainer", TrainerSettings)])
def test_process_help_lists_every_setting_with_its_variable(command: str, cls: type) -> None:
    text = dict(all_parsers(build_parser()))[f"streamrec {command}"].format_help()
    flat = " ".join(text.split())
    for row in setting_rows(cls):
        assert row.env in flat, row.env
        if row.kind != "secret":
            assert row.flag in flat, row.flag


def test_settings_reference_is_in_sync() -> None:
    assert (REPO / DOC_PATH).read_text() == render_markdown(), "run `make settings-doc`"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("streamrec ") and out.split()[1][0].isdigit()


@pytest.mark.parametrize(
    ("flags", "level"), [([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG)]
)
def test_verbosity(flags: list[str], level: int, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, int] = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: seen.update(level=kw["level"]))
    assert main([*flags]) == 0
    assert seen["level"] == level


def test_config_masks_secrets_and_reads_lists(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMREC_MODELS_SIGNING_KEY", "a-very-secret-key-1234")
    monkeypatch.setenv("STREAMREC_EXCLUDE_ACTIONS", "buy, cart")
    assert main(["config", "worker", "--partitions", "8"]) == 0
    out = capsys.readouterr().out
    assert "a-very-secret-key-1234" not in out
    lines = dict(line.split("=", 1) for line in out.splitlines())
    assert lines["STREAMREC_MODELS_SIGNING_KEY"] == "********"
    assert lines["STREAMREC_EXCLUDE_ACTIONS"] == "buy,cart"
    assert lines["STREAMREC_PARTITIONS"] == "8"
    assert set(lines) == {r.env for r in setting_rows(Settings)}


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("STREAMREC_UNKNOWN_ITEMS", "maybe", "'accept' or 'reject'"),
        ("STREAMREC_PARTITIONS", "0", "greater than or equal to 1"),
        ("STREAMREC_PARTITIONS", "four", "valid integer"),
        ("STREAMREC_EXCLUDE_ACTIONS", "buy,teleport", "unknown actions ['teleport']"),
        ("STREAMREC_CREATE_TOPICS", "perhaps", "valid boolean"),
    ],
)
def test_invalid_setting_is_one_line_naming_the_variable(
    variable: str,
    value: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["config", "worker"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"streamrec config: {variable}=")
    assert expected in err[0]


def test_invalid_secret_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMREC_MODELS_SIGNING_KEY", "short-key")
    assert main(["config", "worker"]) == 2
    err = capsys.readouterr().err
    assert "STREAMREC_MODELS_SIGNING_KEY" in err and "short-key" not in err


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line (``... | head -0``)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMREC_")}
    done = subprocess.run(
        [sys.executable, "-m", "streamrec.stream.cli", "config", "worker"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
        check=False,
    )
    os.close(write_end)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr
