"""Version archives: a deterministic plain tar written by us, read back as untrusted input.

:func:`pack` writes the bundle's files under ``bundle/`` and the trainer's checkpoint. Readers
(:func:`unpack`, :func:`read_member`) open the bytes as a plain uncompressed tar (mode ``r:``,
so a gzip or other compressed stream is refused, never inflated) and accept only what
:func:`pack` writes: regular files named ``bundle/NAME`` or ``checkpoint.pt`` with a simple
``NAME``, no duplicates, within a per-member and a total size cap. Nothing is extracted by
tarfile: every member is checked first, then written as a regular file into a fresh temporary
directory that is renamed into place only when all of it is written, so a bad archive is never
half-installed.
"""

from __future__ import annotations

import io
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from streamrec.stream.distribution.trust import DistributionError

CHECKPOINT_NAME = "checkpoint.pt"
BUNDLE_DIR = "bundle"
MAX_MEMBERS = 64
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ArchiveError(DistributionError):
    """An archive that is not exactly what :func:`pack` writes."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Size caps of one archive (bytes)."""

    max_total_bytes: int = 512 * 1024 * 1024
    max_member_bytes: int = 512 * 1024 * 1024
    max_members: int = MAX_MEMBERS


def pack(bundle_dir: Path, checkpoint: Path | None) -> bytes:
    """A deterministic tar of the bundle's files (under ``bundle/``) and the checkpoint."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = [(p, f"{BUNDLE_DIR}/{p.name}") for p in sorted(bundle_dir.iterdir()) if p.is_file()]
        if checkpoint is not None:
            files.append((checkpoint, CHECKPOINT_NAME))
        for path, name in files:
            if not _allowed_name(name):
                raise ArchiveError(f"cannot pack {path}: file name outside the archive's rules")
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _allowed_name(name: str) -> bool:
    if name == CHECKPOINT_NAME:
        return True
    head, sep, tail = name.partition("/")
    return head == BUNDLE_DIR and sep == "/" and _FILE_NAME.fullmatch(tail) is not None


def _checked_members(tar: tarfile.TarFile, limits: ArchiveLimits) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    if len(members) > limits.max_members:
        raise ArchiveError(f"{len(members)} members exceed the limit of {limits.max_members}")
    seen: set[str] = set()
    total = 0
    for m in members:
        if m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or m.issparse():
            raise ArchiveError(f"member {m.name!r} is not a regular file")
        if not _allowed_name(m.name):
            raise ArchiveError(f"unexpected member name {m.name!r}")
        if m.name in seen:
            raise ArchiveError(f"duplicate member {m.name!r}")
        seen.add(m.name)
        if m.size < 0 or m.size > limits.max_member_bytes:
            raise ArchiveError(f"member {m.name!r} of {m.size} bytes exceeds the member cap")
        total += m.size
        if total > limits.max_total_bytes:
            raise ArchiveError(f"members exceed the archive cap of {limits.max_total_bytes} bytes")
    return members


def _open(archive: bytes, limits: ArchiveLimits) -> tarfile.TarFile:
    if len(archive) > limits.max_total_bytes + 1024 * (limits.max_members + 4) * 4:
        raise ArchiveError(f"archive of {len(archive)} bytes exceeds the cap")
    try:
        return tarfile.open(fileobj=io.BytesIO(archive), mode="r:")
    except tarfile.TarError as exc:
        raise ArchiveError(f"not a plain tar archive: {exc}") from None


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise ArchiveError(f"unreadable member {member.name!r}")
    data = handle.read(member.size + 1)
    if len(data) != member.size:
        raise ArchiveError(f"member {member.name!r} is truncated")
    return data


def read_member(archive: bytes, name: str, limits: ArchiveLimits | None = None) -> bytes | None:
    """One member's bytes, after checking the whole archive (None when it has no such member)."""
    limits = limits or ArchiveLimits()
    try:
        with _open(archive, limits) as tar:
            for member in _checked_members(tar, limits):
                if member.name == name:
                    return _read(tar, member)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"unreadable archive: {exc}") from None
    return None


def unpack(archive: bytes, dest: Path, limits: ArchiveLimits | None = None) -> Path:
    """Install an archive made by :func:`pack` as ``dest`` (all or nothing); returns its bundle.

    ``dest`` must not exist yet; its parent is created. On any failure nothing is left behind.
    """
    limits = limits or ArchiveLimits()
    if dest.exists():
        raise ArchiveError(f"{dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with _open(archive, limits) as tar:
            for member in _checked_members(tar, limits):
                target = tmp.joinpath(*member.name.split("/"))
                target.parent.mkdir(exist_ok=True)
                with open(target, "xb") as out:  # never follows or overwrites anything
                    out.write(_read(tar, member))
        tmp.rename(dest)
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"unreadable archive: {exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest / BUNDLE_DIR
