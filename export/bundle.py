"""The bundle: ONNX graph(s), the vocabulary, the optional text projection and a manifest.

A bundle is written into a temporary sibling directory and renamed into place, so a reader
sees either no bundle or a complete one. :func:`load_bundle` re-hashes every file the manifest
lists and refuses missing, extra, altered or inconsistent files. This module needs neither
torch nor onnxruntime, so workers and tools can check a bundle cheaply (only
:meth:`Bundle.text_side` imports :mod:`streamrec.models.text.fusion`, for bundles that carry one).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streamrec.export.errors import (
    BundleChecksumError,
    BundleError,
    BundleIncompleteError,
    ManifestError,
)
from streamrec.export.spec import (
    BUNDLE_FORMAT,
    INDEX_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    QUERY_FILE,
    STEP_FILE,
    VOCAB_FILE,
)
from streamrec.models.data.vocab import Vocabulary

if TYPE_CHECKING:
    from streamrec.models.nets.text_side import TextSide

log = logging.getLogger(__name__)

TEXT_SIDE_FILE: Final = "text_side.npz"  # streamrec.models.text.fusion.TextSide.to_bytes()


class Dims(BaseModel):
    """Tensor sizes a caller needs to feed the graphs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_size: int = Field(gt=0)
    hidden_dim: int = Field(gt=0)
    embed_dim: int = Field(gt=0)
    num_items: int = Field(gt=0)  # embedding rows (vocabulary capacity)
    vocab_size: int = Field(gt=0)  # used rows, reserved ones included
    num_actions: int = Field(gt=0)


class VocabInfo(BaseModel):
    """Where the vocabulary is and what it hashes to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str = VOCAB_FILE
    sha256: str
    size: int
    capacity: int


class TextInfo(BaseModel):
    """The learned text projection: a new item's row from its text embedding (cold start)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str = TEXT_SIDE_FILE
    fusion: Literal["sum", "gate", "concat"]
    text_dim: int = Field(gt=0)  # width of the sentence embeddings it projects


class IndexInfo(BaseModel):
    """The item index that serves top-K on large catalogs (streamrec.export.indexed_step).

    The ``query`` graph gives the query vectors; ``items_file`` holds the table, bias and
    transitions the candidates are rescored with; ``file`` is the faiss HNSW graph over the
    assigned rows. ``recall`` (at 10, against exact scoring) was measured at export.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str = INDEX_FILE
    items_file: str = ITEMS_FILE
    ef_search: int = Field(gt=0)
    m: int = Field(gt=0)
    rows: int = Field(ge=0)
    recall: float = Field(ge=0, le=1)
    floor: float = Field(ge=0, le=1)


class Manifest(BaseModel):
    """Self-description of a bundle; ``files`` maps every other file to its sha256."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str
    model_version: str
    created: str  # ISO 8601, UTC
    parent_version: str | None = None
    cell: str
    dims: Dims
    k: int = Field(gt=0)
    vocab: VocabInfo
    graphs: dict[str, str]  # role ("step", "encode", "step_int8", ...) -> file name
    text: TextInfo | None = None  # absent in bundles of models trained without item text
    # item-to-item transitions in the step graph (alpha, width, recent, ...); None: model alone
    blend: dict[str, Any] | None = None
    index: IndexInfo | None = None  # absent: exact scoring only
    metrics: dict[str, Any] = Field(default_factory=dict)  # training metrics
    verification: dict[str, Any] = Field(default_factory=dict)  # export-time parity figures
    export: dict[str, Any] = Field(default_factory=dict)  # exporter, opset, versions
    files: dict[str, str]  # file name -> sha256 (every file but the manifest)

    def to_json(self) -> bytes:
        """Stable, indented JSON."""
        return orjson.dumps(self.model_dump(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Bundle:
    """A bundle read and checked by :func:`load_bundle`."""

    path: Path
    manifest: Manifest
    vocab: Vocabulary

    def graph_path(self, role: str) -> Path:
        """Path of a graph by role (``"step"``, ``"encode"``, ``"step_int8"``...)."""
        try:
            return self.path / self.manifest.graphs[role]
        except KeyError:
            raise BundleError(f"bundle {self.path} has no {role!r} graph") from None

    def graph_bytes(self, role: str) -> bytes:
        """Bytes of a graph, re-checked against the manifest (no swap between load and use)."""
        name = self.manifest.graphs.get(role)
        if name is None:
            raise BundleError(f"bundle {self.path} has no {role!r} graph")
        return self._checked_bytes(name)

    def file_bytes(self, name: str) -> bytes:
        """Bytes of any file the manifest lists, re-checked against its checksum."""
        if name not in self.manifest.files:
            raise BundleError(f"bundle {self.path} has no file {name!r}")
        return self._checked_bytes(name)

    def text_side(self) -> TextSide | None:
        """The learned text projection, re-checked like a graph; None when the bundle has none."""
        info = self.manifest.text
        if info is None:
            return None
        from streamrec.models.nets.text_side import TextSide

        file = self.path / info.file
        try:
            side = TextSide.from_bytes(self._checked_bytes(info.file))
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ManifestError(f"{file} is not a text projection: {exc}") from exc
        expected = (self.manifest.dims.embed_dim, info.text_dim)
        if side.fusion != info.fusion or side.weight.shape != expected:
            raise ManifestError(
                f"{file}: {side.fusion} projection {side.weight.shape}, manifest says "
                f"{info.fusion} {expected}"
            )
        return side

    def _checked_bytes(self, name: str) -> bytes:
        data = (self.path / name).read_bytes()
        if sha256_bytes(data) != self.manifest.files[name]:
            raise BundleChecksumError(f"{self.path / name} changed since the bundle was loaded")
        return data


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (graphs of 1M items are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> str:
    """Current time as ISO 8601 UTC, second precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def write_bundle(
    out_dir: str | Path,
    files: Mapping[str, bytes],
    manifest_fields: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> Bundle:
    """Write ``files`` and a manifest atomically; checksums are computed here.

    ``manifest_fields`` holds every :class:`Manifest` field except ``files`` and ``format``.
    The directory appears complete or not at all; with ``overwrite`` an existing bundle is
    replaced (moved aside, then removed).
    """
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise BundleError(f"{out} exists (pass overwrite to replace it)")
    for name in files:
        if name == MANIFEST_FILE or "/" in name or name.startswith("."):
            raise BundleError(f"invalid bundle file name {name!r}")
    digests = {name: sha256_bytes(data) for name, data in files.items()}
    try:
        manifest = Manifest(format=BUNDLE_FORMAT, files=digests, **manifest_fields)
    except ValidationError as exc:
        raise ManifestError(f"invalid manifest fields: {exc}") from exc
    _check_consistent(manifest, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for name, data in {**files, MANIFEST_FILE: manifest.to_json()}.items():
            with (tmp / name).open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _replace_dir(tmp, out, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote bundle %s (version %s)", out, manifest.model_version)
    return load_bundle(out)


def _replace_dir(tmp: Path, out: Path, overwrite: bool) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    if not overwrite:
        raise BundleError(f"{out} appeared while writing")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(path: str | Path) -> Manifest:
    """Parse and validate ``manifest.json`` of a bundle directory (no file hashing)."""
    path = Path(path)
    file = path / MANIFEST_FILE
    if not path.is_dir():
        raise BundleIncompleteError(f"no bundle directory at {path}")
    if not file.is_file():
        raise BundleIncompleteError(f"{path} has no {MANIFEST_FILE} (partial or not a bundle)")
    try:
        raw = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"{file} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != BUNDLE_FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise ManifestError(f"{file}: format {found!r}, expected {BUNDLE_FORMAT!r}")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(f"{file} does not match the manifest schema: {exc}") from exc


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle, verifying every checksum and the manifest's consistency."""
    path = Path(path)
    manifest = read_manifest(path)
    _check_consistent(manifest, path)
    present = {p.name for p in path.iterdir()} - {MANIFEST_FILE}
    missing = sorted(set(manifest.files) - present)
    if missing:
        raise BundleIncompleteError(f"{path} lacks {', '.join(missing)} (partial bundle)")
    extra = sorted(present - set(manifest.files))
    if extra:
        raise BundleError(f"{path} holds files the manifest does not list: {', '.join(extra)}")
    for name, expected in manifest.files.items():
        actual = sha256_file(path / name)
        if actual != expected:
            raise BundleChecksumError(
                f"{path / name}: sha256 {actual[:12]}… differs from the manifest's "
                f"{expected[:12]}… (altered or corrupted)"
            )
    vocab_bytes = (path / manifest.vocab.file).read_bytes()
    try:
        vocab = Vocabulary.from_json(vocab_bytes)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{path / manifest.vocab.file} is not a vocabulary: {exc}") from exc
    if vocab.size != manifest.vocab.size or vocab.capacity != manifest.vocab.capacity:
        raise ManifestError(
            f"{path}: vocabulary has {vocab.size}/{vocab.capacity} rows, manifest says "
            f"{manifest.vocab.size}/{manifest.vocab.capacity}"
        )
    return Bundle(path=path, manifest=manifest, vocab=vocab)


def _check_consistent(m: Manifest, path: Path) -> None:
    """Cross-field checks: the manifest must agree with itself before any file is trusted."""
    problems: list[str] = []
    if STEP_FILE not in m.graphs.values() or m.graphs.get("step") != STEP_FILE:
        problems.append(f"graphs must map 'step' to {STEP_FILE}")
    for role, name in m.graphs.items():
        if name not in m.files:
            problems.append(f"graph {role!r} ({name}) is not in files")
    if m.vocab.file not in m.files:
        problems.append(f"vocabulary {m.vocab.file} is not in files")
    elif m.files[m.vocab.file] != m.vocab.sha256:
        problems.append("vocab.sha256 differs from files[vocab.file]")
    if m.text is not None and m.text.file not in m.files:
        problems.append(f"text projection {m.text.file} is not in files")
    if m.index is not None:
        for name in (m.index.file, m.index.items_file):
            if name not in m.files:
                problems.append(f"index file {name} is not in files")
        if m.graphs.get("query") != QUERY_FILE:
            problems.append(f"an index needs graphs to map 'query' to {QUERY_FILE}")
    if m.vocab.capacity != m.dims.num_items:
        problems.append(f"vocab capacity {m.vocab.capacity} != dims.num_items {m.dims.num_items}")
    if m.vocab.size != m.dims.vocab_size:
        problems.append(f"vocab size {m.vocab.size} != dims.vocab_size {m.dims.vocab_size}")
    if m.dims.vocab_size > m.dims.num_items:
        problems.append("dims.vocab_size exceeds dims.num_items")
    expected_state = m.dims.hidden_dim * (2 if m.cell == "lstm" else 1)
    if m.cell not in ("gru", "lstm"):
        problems.append(f"unknown cell {m.cell!r}")
    elif m.dims.state_size != expected_state:
        problems.append(f"dims.state_size {m.dims.state_size} != {expected_state} for {m.cell}")
    if m.k > m.dims.num_items:
        problems.append(f"k {m.k} exceeds num_items {m.dims.num_items}")
    if problems:
        raise ManifestError(f"{path / MANIFEST_FILE} is inconsistent: " + "; ".join(problems))
