"""Where tools keep what they download or export once per machine (``STREAMREC_*_CACHE``).

The library functions take these directories as arguments; only the command line reads the
environment, through this object.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CACHE_ROOT = Path.home() / ".cache" / "streamrec"


class CacheSettings(BaseSettings):
    """Per-machine caches of the offline tools."""

    model_config = SettingsConfigDict(env_prefix="STREAMREC_", frozen=True, extra="ignore")

    text_cache: Path = Field(
        CACHE_ROOT, description="Root of the exported sentence encoder (one folder per version)."
    )
    data_cache: Path = Field(
        CACHE_ROOT / "movielens100k", description="Where MovieLens-100k files are written."
    )

    @property
    def text_encoder_dir(self) -> Path:
        """The exported encoder of the installed encoder package, under :attr:`text_cache`."""
        from streamrec.models.text.encoder_export import default_text_encoder_dir

        return default_text_encoder_dir(self.text_cache)


def load_cache_settings(**overrides: Path | None) -> CacheSettings:
    """Cache locations from the environment, explicit overrides on top."""
    return CacheSettings(**{k: v for k, v in overrides.items() if v is not None})
