"""Exceptions raised by export/: one root for bundle and verification faults.

:class:`SessionError` (a session cannot be made as asked) comes from the layer below and is
not an :class:`ExportError`: catch both where a bundle is loaded.
"""

from __future__ import annotations

from streamrec.models.inference import SessionError as _SessionError


class ExportError(RuntimeError):
    """Root of every error raised by the export package."""


class BundleError(ExportError):
    """A bundle cannot be written or read."""


class BundleIncompleteError(BundleError):
    """A file the manifest lists is missing (a partial copy or an interrupted write)."""


class BundleChecksumError(BundleError):
    """A file's sha256 differs from the manifest's (altered or corrupted)."""


class ManifestError(BundleError):
    """The manifest is missing, unreadable, of an unknown format or inconsistent with the files."""


class VerificationError(ExportError):
    """ONNX Runtime disagrees with torch beyond the stated tolerances; nothing is written."""


# Raised where sessions are made (below export, so the text encoder can use it too).
SessionError = _SessionError
