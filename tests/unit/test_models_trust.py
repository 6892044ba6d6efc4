"""Unit tier: the models topic trusts nothing: signatures, names, archives, malformed records."""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from pathlib import Path

import orjson
import pytest

from streamrec.stream.config.settings import Settings
from streamrec.stream.config.trainer_settings import TrainerSettings
from streamrec.stream.distribution.archive import (
    ArchiveError,
    ArchiveLimits,
    pack,
    read_member,
    unpack,
)
from streamrec.stream.distribution.log import Catalog
from streamrec.stream.distribution.topic import (
    ServingRecord,
    VersionRecord,
    chunk_key,
    history_key,
    sha256,
    split_chunks,
    version_key,
)
from streamrec.stream.distribution.trust import Signer, TrustConfig, is_valid_version

KEY = b"0123456789abcdef-test-key"


def bundle_dir(tmp_path: Path) -> Path:
    d = tmp_path / "b"
    d.mkdir()
    (d / "manifest.json").write_text("{}")
    (d / "vocab.json").write_bytes(orjson.dumps({"capacity": 20, "ids": ["a", "b"]}))
    return d


def version_records(
    archive: bytes, version: str, signer: Signer, chunk: int = 64
) -> list[tuple[bytes, bytes]]:
    chunks = split_chunks(archive, chunk)
    record = VersionRecord(
        version=version,
        status="promoted",
        created=time.time(),
        archive_sha256=sha256(archive),
        archive_bytes=len(archive),
        chunk_sha256=[sha256(c) for c in chunks],
    ).signed(signer)
    out = [(chunk_key(version, i).encode(), c) for i, c in enumerate(chunks)]
    return [*out, (version_key(version).encode(), record.to_json())]


def serving(version: str, signer: Signer, ns: int) -> tuple[bytes, bytes]:
    key = history_key(ns).encode()
    entry = ServingRecord(version=version, cause="promotion", at=ns / 1e9)
    return key, entry.signed(signer, key).to_json()


# --- signing -----------------------------------------------------------------------------------
def test_signed_records_are_accepted_and_forged_ones_refused(tmp_path: Path) -> None:
    archive = pack(bundle_dir(tmp_path), None)
    good, forger = Signer(KEY), Signer(b"another-key-of-16+chars")
    cat = Catalog(TrustConfig(signing_key=KEY))
    for key, value in version_records(archive, "v1", good):
        cat.apply(key, value)
    cat.apply(*serving("v1", good, 1))
    assert cat.serving == "v1" and cat.archive("v1") == archive

    for key, value in version_records(archive, "evil", forger):
        cat.apply(key, value)
    cat.apply(*serving("evil", forger, 2))
    for key, value in version_records(archive, "plain", Signer(None)):
        cat.apply(key, value)
    cat.apply(*serving("plain", Signer(None), 3))
    assert cat.serving == "v1" and set(cat.versions) == {"v1"}
    assert cat.refused["bad-signature"] == 2 and cat.refused["unsigned"] == 2


def test_signature_covers_checksums_and_the_topic_key(tmp_path: Path) -> None:
    signer = Signer(KEY)
    cat = Catalog(TrustConfig(signing_key=KEY))
    record = VersionRecord(version="v1", status="promoted", created=1.0, archive_sha256="a" * 64)
    signed = record.signed(signer)
    tampered = signed.model_copy(update={"archive_sha256": "b" * 64})
    cat.apply(b"version/v1", tampered.to_json())
    assert cat.refused["bad-signature"] == 1
    cat.apply(b"version/v2", signed.model_copy(update={"version": "v2"}).to_json())
    assert cat.refused["bad-signature"] == 2
    key, value = serving("v1", signer, 5)
    cat.apply(history_key(6).encode(), value)  # a signed entry moved to another key
    assert cat.refused["bad-signature"] == 3
    cat.apply(key, value)
    cat.apply(key, value)  # replayed
    assert cat.refused["replayed"] == 1 and len(cat.history) == 1


def test_without_a_key_records_are_accepted_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cat = Catalog()
    for key, value in version_records(pack(bundle_dir(tmp_path), None), "v1", Signer(None)):
        cat.apply(key, value)
    cat.apply(*serving("v1", Signer(None), 1))
    cat.apply(*serving("v1", Signer(None), 2))
    assert cat.serving == "v1" and not cat.refused
    assert caplog.text.count("no models signing key") == 1


def test_settings_read_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_MODELS_SIGNING_KEY", KEY.decode())
    monkeypatch.setenv("STREAMREC_MODELS_KEEP_VERSIONS", "3")
    for cls in (Settings, TrainerSettings):
        s = cls(models_topic="streamrec-models")
        trust = TrustConfig.from_settings(s)
        assert trust.signing_key == KEY and trust.keep_versions == 3
        assert KEY.decode() not in repr(s)
    monkeypatch.setenv("STREAMREC_MODELS_SIGNING_KEY", "short")
    with pytest.raises(ValueError):
        Settings()


# --- names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["./../../escaped", "../x", "a/b", "/abs", "", ".hidden", "a..b", "x" * 65, "é", "a\\b"]
)
def test_bad_version_names_are_refused_everywhere(name: str, tmp_path: Path) -> None:
    from streamrec.stream.distribution.topic import ModelPublisher
    from streamrec.stream.distribution.trust import UntrustedRecordError

    assert not is_valid_version(name)
    cat = Catalog()
    record = VersionRecord(version=name, status="rejected", created=1.0)
    cat.apply(f"version/{name}".encode(), record.to_json())
    cat.apply(f"chunk/{name}/000000".encode(), b"x")
    cat.apply(*serving(name, Signer(None), 1))
    assert not cat.versions and not cat.chunks and not cat.history
    assert sum(cat.refused.values()) == 3
    publisher = ModelPublisher.__new__(ModelPublisher)  # no broker: refused before any send
    with pytest.raises(UntrustedRecordError):
        publisher.serve(name, "promotion")


def test_good_version_names() -> None:
    assert all(is_valid_version(n) for n in ["v0", "streamrec-20250101T000000-3", "A.b_c-1"])


# --- malformed records ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"version/v1", b"{not json", "bad-record"),
        (b"version/v1", b'{"version": "v1"}', "bad-record"),
        (b"version/v1", b"[1, 2]", "bad-record"),
        (b"history/00000000000000000001", b"\xff\xfe", "bad-record"),
        (b"weird/v1", b"{}", "unknown-key"),
        (b"chunk/v1/abc", b"x", "bad-chunk-index"),
        (b"chunk/v1/-00001", b"x", "bad-chunk-index"),
        (b"chunk/v1/1", b"x", "bad-chunk-index"),
        (b"history/now", b"{}", "bad-key"),
        (b"\xff\xfe/v1", b"{}", "bad-key"),
        (None, b"{}", "bad-key"),
        (b"version/v1", b" " * (300 * 1024), "oversized"),
        (b"chunk/v1/000000", b"x" * (3 * 1024 * 1024), "oversized"),
    ],
)
def test_malformed_records_are_refused_and_counted(
    key: bytes | None, value: bytes, reason: str
) -> None:
    cat = Catalog()
    assert cat.apply(key, value) is None
    assert cat.refused == {reason: 1}


def test_chunks_beyond_a_version_and_unannounced_floods_are_bounded(tmp_path: Path) -> None:
    archive = pack(bundle_dir(tmp_path), None)
    cat = Catalog(TrustConfig(max_archive_bytes=1024 * 1024))
    for key, value in version_records(archive, "v1", Signer(None)):
        cat.apply(key, value)
    cat.apply(b"chunk/v1/999999", b"x")
    assert cat.refused["bad-chunk-index"] == 1
    for n in range(10):
        cat.apply(f"chunk/flood{n}/000000".encode(), b"x" * 10)
    assert len([v for v in cat.chunks if v.startswith("flood")]) == 4
    assert cat.refused["evicted"] == 6


# --- retention ----------------------------------------------------------------------------------
def test_only_kept_versions_are_held_and_older_ones_are_prunable(tmp_path: Path) -> None:
    archive = pack(bundle_dir(tmp_path), None)
    cat = Catalog(TrustConfig(keep_versions=2), live=True)
    for n in range(5):
        for key, value in version_records(archive, f"v{n}", Signer(None)):
            cat.apply(key, value)
        if n == 1:
            cat.apply(*serving("v1", Signer(None), 1))
    assert set(cat.chunks) == {"v1", "v3", "v4"}  # last two promoted and the serving one
    assert [r.version for r in cat.prunable()] == ["v0", "v2"]


# --- archives -----------------------------------------------------------------------------------
def tar_with(*members: tuple[tarfile.TarInfo, bytes | None], compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


def member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE) -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    return info, data if kind == tarfile.REGTYPE else None


def test_pack_unpack_round_trip(tmp_path: Path) -> None:
    src = bundle_dir(tmp_path)
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"weights")
    archive = pack(src, ckpt)
    out = unpack(archive, tmp_path / "out" / "v1")
    assert (out / "vocab.json").read_bytes() == (src / "vocab.json").read_bytes()
    assert (tmp_path / "out" / "v1" / "checkpoint.pt").read_bytes() == b"weights"
    assert read_member(archive, "bundle/vocab.json") == (src / "vocab.json").read_bytes()


@pytest.mark.parametrize(
    "archive",
    [
        tar_with(member("bundle/a"), member("bundle/link", kind=tarfile.SYMTYPE)),
        tar_with(member("bundle/hard", kind=tarfile.LNKTYPE)),
        tar_with(member("bundle/dev", kind=tarfile.CHRTYPE)),
        tar_with(member("bundle/fifo", kind=tarfile.FIFOTYPE)),
        tar_with(member("bundle/sub", kind=tarfile.DIRTYPE)),
        tar_with(member("bundle/ok"), member("../x")),
        tar_with(member("bundle/../../x")),
        tar_with(member("/etc/x")),
        tar_with(member("bundle/a"), member("bundle/a")),
        tar_with(member("other/x")),
        tar_with(member("bundle/ok"), compress=True),
        tar_with(member("bundle/big", b"x" * 5000)),
        tar_with(*(member(f"bundle/f{i}", b"x" * 900) for i in range(3))),
        b"not a tar at all" * 100,
    ],
    ids=[
        "symlink",
        "hardlink",
        "device",
        "fifo",
        "directory",
        "dotdot",
        "nested-dotdot",
        "absolute",
        "duplicate",
        "outside-bundle",
        "gzip",
        "member-too-big",
        "total-too-big",
        "garbage",
    ],
)
def test_bad_archives_are_refused_and_never_half_installed(archive: bytes, tmp_path: Path) -> None:
    limits = ArchiveLimits(max_total_bytes=2048, max_member_bytes=1024)
    dest = tmp_path / "models" / "v1"
    with pytest.raises(ArchiveError):
        unpack(archive, dest, limits)
    assert not dest.exists()
    assert list((tmp_path / "models").iterdir()) == []  # no temporary left behind
    assert not (tmp_path / "x").exists() and not (tmp_path / "models" / "x").exists()
