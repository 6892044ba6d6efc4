"""The worker's settings: one typed, frozen object read from ``STREAMREC_*`` env and CLI flags.

Built once in the entry point (:func:`load_settings`) and passed down; nothing reads the
environment anywhere else.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of a streamrec deployment, documented per field."""

    model_config = SettingsConfigDict(env_prefix="STREAMREC_", frozen=True, extra="forbid")

    bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    app_id: str = Field(
        "streamrec", description="Faust app id: consumer group, table and changelog prefix."
    )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit (e.g. CLI flag) overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
