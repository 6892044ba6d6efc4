"""Shared fixtures for the item-text tests: the exported encoder, once per machine."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def text_encoder_dir() -> Path:
    """The exported MiniLM encoder (exported on first use, ~30 s, then cached on disk)."""
    from export.text_encoder import ensure_text_encoder

    return ensure_text_encoder()
