"""A bundle is written atomically and refused when partial, altered or inconsistent."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from export import spec
from export.bundle import load_bundle, write_bundle
from export.errors import (
    BundleChecksumError,
    BundleError,
    BundleIncompleteError,
    ManifestError,
)
from tests import export_helpers as fx

pytestmark = pytest.mark.unit
bundle_copy = fx.bundle_copy
bundle_dir = fx.bundle_dir
checkpoint = fx.checkpoint


def test_manifest_describes_the_bundle(bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)
    m = b.manifest
    assert m.format == spec.BUNDLE_FORMAT
    assert (m.model_version, m.parent_version, m.k, m.cell) == ("v1", "v0", 10, "gru")
    assert m.dims.state_size == 24 and m.dims.vocab_size == b.vocab.size
    assert set(m.files) == {spec.STEP_FILE, spec.VOCAB_FILE, spec.ENCODE_FILE}
    assert m.vocab.sha256 == b.vocab.checksum()
    assert m.metrics == {"hr@10": 0.5}
    assert m.verification["step"]["random"]["agreement"] == 1.0
    assert not list(bundle_dir.parent.glob(".*tmp*")), "temporary directory left behind"


def test_flipped_byte_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / spec.STEP_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleChecksumError, match=r"step\.onnx"):
        load_bundle(bundle_copy)


def test_flipped_vocab_byte_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / spec.VOCAB_FILE
    path.write_bytes(path.read_bytes().replace(b'"1"', b'"7"', 1))
    with pytest.raises(BundleChecksumError):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("name", [spec.STEP_FILE, spec.VOCAB_FILE, spec.MANIFEST_FILE])
def test_missing_file_is_refused(bundle_copy: Path, name: str) -> None:
    (bundle_copy / name).unlink()
    with pytest.raises(BundleIncompleteError):
        load_bundle(bundle_copy)


def _edit_manifest(path: Path, **changes: object) -> None:
    file = path / spec.MANIFEST_FILE
    data = orjson.loads(file.read_bytes())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    file.write_bytes(orjson.dumps(data))


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "streamrec-bundle/0"},
        {"dims__state_size": 48},
        {"dims__vocab_size": 5},
        {"vocab__sha256": "0" * 64},
        {"files__step.onnx": "0" * 64},
        {"graphs__step": "other.onnx"},
        {"k": 10**9},
        {"surprise": 1},
    ],
    ids=lambda c: next(iter(c)),
)
def test_wrong_manifest_is_refused(bundle_copy: Path, changes: dict[str, object]) -> None:
    _edit_manifest(bundle_copy, **changes)
    with pytest.raises(BundleError):
        load_bundle(bundle_copy)


def test_unreadable_manifest_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / spec.MANIFEST_FILE).write_bytes(b"{not json")
    with pytest.raises(ManifestError):
        load_bundle(bundle_copy)


def test_unlisted_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "extra.onnx").write_bytes(b"x")
    with pytest.raises(BundleError, match=r"extra\.onnx"):
        load_bundle(bundle_copy)


def test_existing_bundle_is_kept_unless_overwrite(bundle_copy: Path) -> None:
    manifest = load_bundle(bundle_copy).manifest
    fields = manifest.model_dump(exclude={"files", "format"})
    files = {n: (bundle_copy / n).read_bytes() for n in manifest.files}
    with pytest.raises(BundleError, match="exists"):
        write_bundle(bundle_copy, files, fields)
    fields["model_version"] = "v2"
    assert write_bundle(bundle_copy, files, fields, overwrite=True).manifest.model_version == "v2"
    assert sorted(p.name for p in bundle_copy.parent.iterdir()) == ["copy"]


def test_invalid_manifest_fields_write_nothing(tmp_path: Path, bundle_dir: Path) -> None:
    manifest = load_bundle(bundle_dir).manifest
    fields = manifest.model_dump(exclude={"files", "format"})
    fields["dims"] = {**fields["dims"], "state_size": 7}
    files = {n: (bundle_dir / n).read_bytes() for n in manifest.files}
    with pytest.raises(ManifestError):
        write_bundle(tmp_path / "out", files, fields)
    assert list(tmp_path.iterdir()) == []
