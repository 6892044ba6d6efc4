"""Exceptions raised by export/: one root so callers can catch every bundle or session fault."""

from __future__ import annotations


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


class SessionError(ExportError):
    """An inference session cannot be created as asked (e.g. CUDA requested but not usable)."""
