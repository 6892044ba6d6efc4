"""`streamrec bundle verify|inspect` and `streamrec export` through the real entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamrec.export import spec
from streamrec.export.bundle import load_bundle
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.stream.cli.main import main


def test_verify_accepts_a_good_bundle(bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "verify", str(bundle_dir)]) == 0
    out = capsys.readouterr().out
    assert "every checksum matches" in out and "CPUExecutionProvider" in out


def test_verify_refuses_an_altered_bundle(
    bundle_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundle_copy / spec.ENCODE_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main(["bundle", "verify", str(bundle_copy)]) == 1
    assert "REFUSED" in capsys.readouterr().err


def test_inspect_prints_the_manifest(bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "inspect", str(bundle_dir)]) == 0
    out = capsys.readouterr().out
    assert "version     v1 (parent v0)" in out and "step.onnx" in out


def test_export_command_writes_a_bundle(
    checkpoint: Checkpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = checkpoint.save(tmp_path / "model.pt")
    out = tmp_path / "bundle"
    args = ["export", str(ckpt), str(out), "--k", "5", "--model-version", "v9", "--variants", ""]
    assert main([*args, "--real-n", "300"]) == 0
    assert load_bundle(out).manifest.model_version == "v9"
    assert "top-K agreement 100.0000%" in capsys.readouterr().out
