"""Replay benchmark of online fine-tuning: the same stream served frozen and fine-tuned.

A model is trained on the first ``warmup_share`` of the events (the "day-0" model). The rest
is replayed in chunks of ``chunk_events``: every chunk is first scored prequentially (each
event predicted from the user's state after everything before it) by the frozen model and by
the online one, then appended to the replay window, after which the online side runs one
trainer round (fine-tune on the window minus its newest slice, gate on that slice, promote if
not worse). Neither model ever trains on a chunk before being scored on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from streamrec.models.data.events import Event
from streamrec.models.data.vocab import Vocabulary
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender
from streamrec.models.training.gate import GateConfig, gate, prequential
from streamrec.models.training.online import FineTuneConfig, fine_tune

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayConfig:
    """Sizes of the replay; defaults fit a 2-core CPU in a few minutes on 20k events."""

    warmup_share: float = 0.2
    chunk_events: int = 1000
    window_events: int = 6000
    holdout_share: float = 0.2
    k: int = 10
    embed_dim: int = 32
    hidden_dim: int = 64
    headroom: float = 1.5  # vocabulary rows for items first seen after the warm-up
    warmup_epochs: int = 10
    fine_tune: FineTuneConfig = field(default_factory=lambda: FineTuneConfig(epochs=2, lr=2e-3))
    gate: GateConfig = field(default_factory=GateConfig)
    seed: int = 0


@dataclass
class ReplayReport:
    """Per-chunk figures and the summary ratio."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    promotions: int = 0
    rejections: int = 0
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    def second_half(self, key: str) -> float:
        """Event-weighted mean of ``key`` over the chunks of the second half."""
        half = self.chunks[len(self.chunks) // 2 :]
        n = sum(c["events"] for c in half)
        return sum(c[key] * c["events"] for c in half) / n if n else 0.0

    @property
    def ratio(self) -> float:
        """HR@K with fine-tuning / HR@K frozen over the second half."""
        off = self.second_half("hr_off")
        return self.second_half("hr_on") / off if off else float("inf")


def warmup_model(events: Sequence[Event], cfg: ReplayConfig) -> Checkpoint:
    """A model trained from scratch on ``events`` with room for later items."""
    torch.manual_seed(cfg.seed)
    vocab = Vocabulary.build((e.item_id for e in events), headroom=cfg.headroom)
    model = RecurrentRecommender(
        RecurrentConfig(
            num_items=vocab.capacity, embed_dim=cfg.embed_dim, hidden_dim=cfg.hidden_dim
        )
    )
    fresh = Checkpoint(model.config, model.state_dict(), vocab)
    ft = FineTuneConfig(
        epochs=cfg.warmup_epochs,
        lr=2e-3,
        batch_size=cfg.fine_tune.batch_size,
        max_len=cfg.fine_tune.max_len,
        seed=cfg.seed,
    )
    return fine_tune(fresh, events, ft).checkpoint


def replay(events: Sequence[Event], cfg: ReplayConfig, progress: bool = True) -> ReplayReport:
    """Run the benchmark on time-ordered ``events``."""
    from tqdm import tqdm

    started = time.monotonic()
    events = sorted(events, key=lambda e: e.ts)
    n_warm = int(len(events) * cfg.warmup_share)
    frozen = warmup_model(events[:n_warm], cfg)
    online = frozen
    window = list(events[max(0, n_warm - cfg.window_events) : n_warm])
    report = ReplayReport(config=asdict(cfg))
    starts = range(n_warm, len(events), cfg.chunk_events)
    for start in tqdm(starts, disable=not progress, unit="chunk"):
        chunk = list(events[start : start + cfg.chunk_events])
        off = prequential(frozen, window, chunk, cfg.k)
        on = prequential(online, window, chunk, cfg.k)
        k = cfg.k
        row: dict[str, Any] = {
            "ts": chunk[0].ts,
            "events": int(on["events"]),
            "hr_off": off[f"HR@{k}"],
            "hr_on": on[f"HR@{k}"],
            "ndcg_off": off[f"NDCG@{k}"],
            "ndcg_on": on[f"NDCG@{k}"],
        }
        window = (window + chunk)[-cfg.window_events :]
        n_hold = max(1, int(len(window) * cfg.holdout_share))
        context, holdout = window[:-n_hold], window[-n_hold:]
        candidate = fine_tune(online, context, cfg.fine_tune).checkpoint
        decision = gate(candidate, online, context, holdout, cfg.gate)
        row["promoted"] = decision.promoted
        row["reason"] = decision.reason
        if decision.promoted:
            online = candidate
            report.promotions += 1
        else:
            report.rejections += 1
        report.chunks.append(row)
        log.info(
            "chunk %d: HR@%d on %.4f off %.4f (%s)",
            len(report.chunks),
            k,
            row["hr_on"],
            row["hr_off"],
            "promoted" if decision.promoted else "kept",
        )
    report.seconds = time.monotonic() - started
    return report


def plot(report: ReplayReport, path: Path, title: str, k: int = 10) -> Path:
    """HR@K per chunk, fine-tuned vs frozen, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = list(range(1, len(report.chunks) + 1))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(x, [c["hr_on"] for c in report.chunks], label="fine-tuning on", marker="o", ms=3)
    ax.plot(x, [c["hr_off"] for c in report.chunks], label="frozen", marker="s", ms=3)
    half = len(x) // 2 + 0.5
    ax.axvline(half, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("replayed chunk (time →)")
    ax.set_ylabel(f"prequential HR@{k}")
    ax.set_title(f"{title}: second-half ratio {report.ratio:.2f}x")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
