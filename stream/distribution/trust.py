"""What a reader of the models topic may trust: version names, HMAC signatures, size limits.

Anyone who can write to the models topic could otherwise make every worker serve (and every
trainer fine-tune from) what they like: the checksums travel in the same record as the data.
With a signing key configured, the publisher signs each version and serving record with
HMAC-SHA256 (stdlib :mod:`hmac`) over the record's topic key and a canonical encoding of its
fields; the version record covers the archive's and every chunk's sha256, so chunks are
authenticated through it. Readers refuse unsigned or mis-signed records. Tombstones carry no
value and cannot be signed: they can only remove a version (which compaction would do anyway),
never inject one.

Version names become directory names on every reader, so they follow :data:`VERSION_PATTERN`
(no separators, no ``..``), checked by the publisher and by every reader.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Protocol

import orjson
from pydantic import SecretStr

log = logging.getLogger(__name__)

VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SIGNATURE_SCHEME = "hmac-sha256"


class DistributionError(RuntimeError):
    """A version cannot be published, found or reassembled intact."""


class UntrustedRecordError(DistributionError):
    """A models-topic record refused before it is used; ``reason`` is its metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def is_valid_version(name: object) -> bool:
    """Whether ``name`` may name a version (and hence a directory)."""
    return (
        isinstance(name, str) and VERSION_PATTERN.fullmatch(name) is not None and ".." not in name
    )


def check_version(name: object) -> str:
    """``name`` when valid; raises :class:`UntrustedRecordError` ("bad-name") otherwise."""
    if not is_valid_version(name):
        raise UntrustedRecordError("bad-name", f"invalid version name {name!r}")
    assert isinstance(name, str)
    return name


class DistributionSettings(Protocol):
    """The fields both the worker's and the trainer's settings carry."""

    @property
    def models_signing_key(self) -> SecretStr | None:
        """HMAC key of the models topic."""

    @property
    def models_keep_versions(self) -> int:
        """Promoted versions kept on the topic and in memory."""

    @property
    def models_max_archive_bytes(self) -> int:
        """Largest archive accepted."""


@dataclass(frozen=True)
class TrustConfig:
    """How the models topic is verified and bounded (built from settings, passed down)."""

    signing_key: bytes | None = None
    keep_versions: int = 5
    max_archive_bytes: int = 512 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: DistributionSettings) -> TrustConfig:
        """The trust settings of a worker or trainer settings object."""
        key = settings.models_signing_key
        return cls(
            signing_key=key.get_secret_value().encode() if key is not None else None,
            keep_versions=settings.models_keep_versions,
            max_archive_bytes=settings.models_max_archive_bytes,
        )


def canonical(kind: str, topic_key: bytes, fields: dict[str, object]) -> bytes:
    """The signed bytes: record kind, topic key and the fields as sorted-key JSON."""
    body = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return b"\n".join([b"streamrec-models-v1", kind.encode(), topic_key, body])


class Signer:
    """Signs and verifies models-topic records with one key (or accepts all, warning once)."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key
        self._warned = False

    @property
    def enabled(self) -> bool:
        """Whether records are signed and verified."""
        return self._key is not None

    def sign(self, message: bytes) -> str:
        """``scheme:hex`` signature of ``message`` ("" without a key)."""
        if self._key is None:
            return ""
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()
        return f"{SIGNATURE_SCHEME}:{digest}"

    def verify(self, message: bytes, signature: str) -> None:
        """Raise :class:`UntrustedRecordError` unless ``signature`` is ours over ``message``."""
        if self._key is None:
            if not self._warned:
                self._warned = True
                log.warning(
                    "no models signing key configured (STREAMREC_MODELS_SIGNING_KEY): "
                    "models-topic records are accepted without authentication"
                )
            return
        if not signature:
            raise UntrustedRecordError("unsigned", "record carries no signature")
        if not hmac.compare_digest(self.sign(message), signature):
            raise UntrustedRecordError("bad-signature", "signature does not match")
