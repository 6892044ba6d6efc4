"""The worker's settings: one typed, frozen object read from ``STREAMREC_*`` env and CLI flags.

Built once in the entry point (:func:`load_settings`) and passed down; nothing reads the
environment anywhere else. What the trainer shares is in :mod:`.base`.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from streamrec.models.data.actions import DEFAULT_ACTION_NAMES
from streamrec.stream.config.base import DeploymentSettings

ITEMS_TABLE = "item-metadata"  # the worker's Faust table of item catalog records
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # bind addresses, not reachable ones


class Settings(DeploymentSettings):
    """Every knob of a worker, documented per field (shared ones in the base)."""

    model_config = SettingsConfigDict(env_prefix="STREAMREC_", frozen=True, extra="forbid")

    # --- Kafka -------------------------------------------------------------------------------
    recommendations_topic: str = Field(
        "streamrec-recommendations", description="Output recommendations (JSON), keyed by user."
    )
    dead_letter_topic: str = Field(
        "streamrec-dead-letters", description="Invalid input with the reason (JSON)."
    )
    partitions: int = Field(
        4, ge=1, description="Partitions of the topics the worker creates (max useful replicas)."
    )
    create_topics: bool = Field(
        True, description="Create missing topics on start (existing ones are left as they are)."
    )
    commit_interval_s: float = Field(
        1.0, gt=0, description="How often consumed offsets are committed (after a flush)."
    )
    producer_linger_ms: float = Field(
        1.0,
        ge=0,
        description="Producer batching delay, ms. The worker hands each micro-batch's "
        "recommendations and changelog records to the producer as one batch per partition, "
        "so a longer linger mostly adds latency.",
    )
    fetch_max_wait_ms: float = Field(
        500.0,
        gt=0,
        le=1500,
        description="Longest the broker holds the worker's fetch request when none of its "
        "partitions has new records, ms. It also bounds how long a busy partition can go "
        "without new records if the worker leaves fetched ones waiting over a second (the "
        "client then fetches its other partitions without it). Lower: more fetch requests "
        "while idle.",
    )
    producer_batch_bytes: int = Field(
        262_144,
        ge=16_384,
        description="Producer batch per partition, bytes. A send into a full batch waits "
        "for a broker round trip; one micro-batch's recommendations should fit.",
    )

    send_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long the producer retries a record before the worker gives up on "
        "it: the worker then turns unhealthy and exits non-zero (nothing is committed past "
        "a lost record; the restart replays it).",
    )

    # --- model and state ---------------------------------------------------------------------
    bundle: Path | None = Field(
        None, description="Exported model bundle directory (step.onnx, vocab.json, manifest)."
    )

    data_dir: Path = Field(
        Path(".streamrec-data"), description="Local RocksDB state (one directory per app id)."
    )

    # --- item catalog and cold start (issue 7) ---------------------------------------------------
    items_topic: str = Field(
        "streamrec-items",
        description="Item catalog topic (streamrec.models.data.catalog.ItemRecord JSON).",
    )
    item_text_dir: Path | None = Field(
        None,
        description="Exported text encoder directory (`streamrec items "
        "export-encoder` writes it). With it, an announced item the serving model does not "
        "know gets a vocabulary row at once: its text embedding through the serving bundle's "
        "learned projection (text_side.npz in the bundle, so it follows hot swaps; a "
        "text_side.npz here only serves bundles that carry none). Unset: items are stored, "
        "not added to the model.",
    )
    new_item_bias_quantile: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A new item's score bias: this quantile of the known items' biases.",
    )
    table_name: str = Field("user-state", description="Faust table of per-user state.")
    standby_replicas: int = Field(
        0, ge=0, description="Standby copies of each state partition on other workers."
    )
    recent_items: int = Field(
        50, ge=1, le=255, description="Last N items kept per user (exclusions, re-encoding)."
    )
    top_k: int = Field(10, ge=1, le=255, description="Items per recommendation (<= model's k).")
    exclude_actions: Annotated[tuple[str, ...], NoDecode] = Field(
        ("buy",),
        description="Recent items with these actions are excluded from recommendations "
        "(comma-separated action names; empty: none).",
    )
    unknown_items: Literal["accept", "reject"] = Field(
        "accept",
        description="An item missing from the vocabulary: 'accept' (state still updates "
        "through the UNK row) or 'reject' (dead letter).",
    )
    state_ttl_s: float | None = Field(
        30 * 86_400.0,
        gt=0,
        description="A user whose state was not written for this long is forgotten: the "
        "state is deleted and tombstoned in the changelog. Unset: kept forever.",
    )
    state_ttl_sweep_s: float = Field(
        300.0, gt=0, description="How often idle states are looked for."
    )
    state_ttl_batch: int = Field(
        10_000, ge=1, description="Most states one sweep expires (the rest wait for the next)."
    )
    reemit_on_replay: bool = Field(
        True,
        description="Answer an already applied (replayed) event with the user's current "
        "recommendations, so every event gets at least one.",
    )

    # --- hot path ----------------------------------------------------------------------------
    batch_max: int = Field(256, ge=1, description="Most events per micro-batch (one ONNX call).")
    batch_within_s: float = Field(
        0.005,
        gt=0,
        description="Longest wait for a micro-batch to fill, seconds (counted from the arrival "
        "of its oldest event: under load batches fill while the previous one is handled).",
    )
    onnx_threads: int = Field(1, ge=0, description="ONNX Runtime intra-op threads (0: auto).")
    gil_switch_ms: float = Field(
        0.5,
        gt=0,
        le=100,
        description="Python's thread switch interval in the worker, ms (Python's default is "
        "5). The step releases the interpreter lock while ONNX Runtime runs and the Kafka "
        "consumer thread takes it; with 5 ms the step then waited up to 5 ms to get it back "
        "after each model call.",
    )
    gc_young_threshold: int = Field(
        20_000,
        ge=100,
        description="Allocations between two collections of the garbage collector's youngest "
        "generation in the worker (Python's default is 700, which the hot path's short-lived "
        "objects reach every few events).",
    )
    onnx_provider: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="ONNX Runtime provider: CUDA when a GPU is present, else CPU."
    )
    scoring: Literal["exact", "int8", "auto"] = Field(
        "exact",
        description="Which step graph of the bundle scores the catalog: exact (float32); int8 "
        "(the int8-quantised graph, which export admits only if it ranks like float32; CPU "
        "only, refused at start when the bundle has none); auto (int8 when the bundle has "
        "one and the step runs on the CPU, else exact).",
    )
    topk: Literal["auto", "exact", "index"] = Field(
        "auto",
        description="Where each event's top-K comes from: exact (score every item row); index "
        "(the bundle's item index: query vector, index candidates, exact rescoring; refused "
        "at start when the bundle has none); auto (the index when the bundle carries one, the "
        "step runs on the CPU, scoring is not int8 and the catalog has at least "
        "index_min_items items, else exact).",
    )
    index_min_items: int = Field(
        50_000,
        ge=0,
        description="Catalog size (assigned item rows) from which topk=auto serves through the "
        "bundle's item index; below it scoring every row is as fast.",
    )

    lag_refresh_s: float = Field(
        5.0,
        gt=0,
        description="How often streamrec_consumer_lag is read from the broker's end offsets "
        "and the group's committed offsets, seconds.",
    )

    faust_metrics: bool = Field(
        True,
        description="Also export Faust's own Prometheus sensors on /metrics (faust_*: "
        "messages in and acknowledged, offsets read, committed and at each partition's end, "
        "commit and send latency, rebalances, assignments, web requests).",
    )

    # --- fault injection (tests and `streamrec chaos` only) ---------------------------------
    fault_kill_after_writing: str | None = Field(
        None,
        description="Testing only: SIGKILL the worker right after it writes this user's "
        "state to the local store and before the changelog record is sent.",
    )

    # --- serving -----------------------------------------------------------------------------
    web_host: str = Field(
        "127.0.0.1", description="Worker HTTP bind address (0.0.0.0: every interface)."
    )
    web_port: int = Field(6066, ge=1, le=65535, description="Worker HTTP port.")
    web_advertised_url: str | None = Field(
        None,
        description="URL the other replicas reach this worker's HTTP server at: a request "
        "for a user another replica owns is forwarded to the owner's. Unset: "
        "http://STREAMREC_WEB_HOST:STREAMREC_WEB_PORT, or this host's name instead of a "
        "wildcard bind address (0.0.0.0, ::).",
    )
    web_token: SecretStr | None = Field(
        None,
        description="Bearer token that GET /users/{id}/recommendations requires "
        "(Authorization: Bearer <token>; the same on every replica, forwarded requests keep "
        "it). /health, /ready and /metrics stay open for probes and scrapers. Unset: open.",
    )

    @field_validator("web_advertised_url")
    @classmethod
    def _reachable_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
            raise ValueError("must be http(s)://host:port (no path)")
        if url.hostname in WILDCARD_HOSTS:
            raise ValueError(f"{url.hostname} is a bind address, not one others can reach")
        return value.rstrip("/")

    @property
    def advertised_url(self) -> str:
        """Where the other replicas reach this worker's HTTP server (Faust's canonical URL)."""
        if self.web_advertised_url is not None:
            return self.web_advertised_url
        host = socket.gethostname() if self.web_host in WILDCARD_HOSTS else self.web_host
        return f"http://{host}:{self.web_port}"

    @field_validator("exclude_actions", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(a for a in (p.strip() for p in value.split(",")) if a)
        return value

    @field_validator("exclude_actions")
    @classmethod
    def _known_actions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in value if a.strip().lower() not in DEFAULT_ACTION_NAMES]
        if unknown:
            raise ValueError(f"unknown actions {unknown}")
        return tuple(a.strip().lower() for a in value)

    @property
    def changelog_topic(self) -> str:
        """Faust's changelog topic of the user-state table."""
        return f"{self.app_id}-{self.table_name}-changelog"

    @property
    def items_changelog_topic(self) -> str:
        """Faust's changelog topic of the item-metadata table."""
        return f"{self.app_id}-{ITEMS_TABLE}-changelog"

    @property
    def models_dir(self) -> Path:
        """Where this worker unpacks model versions from the models topic."""
        return self.data_dir / self.app_id / "models"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit (e.g. CLI flag) overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
