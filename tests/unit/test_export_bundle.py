"""A bundle is written atomically and refused when partial, altered or inconsistent."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pytest

from streamrec.export import spec
from streamrec.export.bundle import TEXT_SIDE_FILE, TextInfo, load_bundle, sha256_file, write_bundle
from streamrec.export.errors import (
    BundleChecksumError,
    BundleError,
    BundleIncompleteError,
    ExportError,
    ManifestError,
)
from streamrec.export.onnx_export import export_checkpoint
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.text_side import TextSide


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
        {"text": {"file": "gone.npz", "fusion": "sum", "text_dim": 8}},
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


def _side(embed_dim: int = 16, text_dim: int = 8) -> TextSide:
    rng = np.random.default_rng(3)
    return TextSide(
        "concat",
        rng.normal(size=(embed_dim, text_dim)).astype(np.float32),
        rng.normal(size=embed_dim).astype(np.float32),
        rng.normal(size=(embed_dim, 2 * embed_dim)).astype(np.float32),
    )


@pytest.fixture(scope="module")
def text_bundle(checkpoint: Checkpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text") / "b"
    export_checkpoint(replace(checkpoint, text_side=_side()), out, k=10, encode=False)
    return out


def test_text_projection_travels_in_the_bundle(text_bundle: Path, bundle_dir: Path) -> None:
    b = load_bundle(text_bundle)
    assert b.manifest.text == TextInfo(file=TEXT_SIDE_FILE, fusion="concat", text_dim=8)
    assert b.manifest.files[TEXT_SIDE_FILE] == sha256_file(text_bundle / TEXT_SIDE_FILE)
    side, expected = b.text_side(), _side()
    assert side is not None and side.mix is not None and expected.mix is not None
    assert np.array_equal(side.weight, expected.weight) and np.array_equal(side.mix, expected.mix)
    text = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    assert np.array_equal(side.text_row(text), expected.text_row(text))
    plain = load_bundle(bundle_dir)
    assert plain.manifest.text is None and plain.text_side() is None


def test_flipped_text_byte_is_refused(text_bundle: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(text_bundle, tmp_path / "copy"))
    loaded = load_bundle(copy)
    path = copy / TEXT_SIDE_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleChecksumError, match=r"text_side\.npz"):
        load_bundle(copy)
    with pytest.raises(BundleChecksumError, match="changed since the bundle was loaded"):
        loaded.text_side()  # swapped under a loaded bundle: re-checked on use


def test_bundle_from_before_projections_still_loads(bundle_copy: Path) -> None:
    file = bundle_copy / spec.MANIFEST_FILE
    data = orjson.loads(file.read_bytes())
    del data["text"]
    file.write_bytes(orjson.dumps(data))
    assert load_bundle(bundle_copy).text_side() is None


def test_projection_of_another_width_is_not_exported(
    checkpoint: Checkpoint, tmp_path: Path
) -> None:
    with pytest.raises(ExportError, match="embed_dim"):
        export_checkpoint(replace(checkpoint, text_side=_side(embed_dim=15)), tmp_path / "b")
    assert not (tmp_path / "b").exists()
