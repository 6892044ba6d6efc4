"""Real step inputs for verification: user histories from a sequence file, states from torch.

The file format is the one S3-Rec and other sequential-recommendation papers publish: one line
per user, ``user item item ...`` in time order. Items are mapped through the model's vocabulary
(unknown ids become UNK). A real input is a user's next event after a random prefix, the state
the model reached over that prefix, and the prefix's last items as exclusions.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from streamrec.export.parity import StepInputs
from streamrec.export.spec import MAX_HISTORY
from streamrec.models.data.actions import Action
from streamrec.models.data.events import Event
from streamrec.models.data.vocab import PAD, Vocabulary
from streamrec.models.nets.gru import RecurrentRecommender
from streamrec.models.nets.neighbours import latest_first


def load_sequences(path: str | Path, vocab: Vocabulary, min_len: int = 2) -> list[np.ndarray]:
    """Item-row sequences per user (time order) from a ``user item item ...`` file."""
    sequences = []
    with Path(path).open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) - 1 >= min_len:
                sequences.append(np.array([vocab.index(p) for p in parts[1:]], np.int64))
    return sequences


def histories(
    sequences: list[np.ndarray], n: int, rng: np.random.Generator, max_len: int = MAX_HISTORY
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (prefix, next item) pairs: prefixes ``(n, max_len)`` left-aligned, PAD after."""
    users = rng.integers(0, len(sequences), n)
    prefixes = np.full((n, max_len), PAD, np.int64)
    nxt = np.empty(n, np.int64)
    for row, u in enumerate(users):
        seq = sequences[u]
        cut = int(rng.integers(1, len(seq)))
        start = max(0, cut - max_len)
        prefixes[row, : cut - start] = seq[start:cut]
        nxt[row] = seq[cut]
    return prefixes, nxt


@torch.inference_mode()
def encode_states(model: RecurrentRecommender, prefixes: np.ndarray, action: int) -> np.ndarray:
    """State after each left-aligned prefix ``(n, T)`` (PAD positions leave it unchanged)."""
    items = torch.from_numpy(prefixes)
    actions = torch.where(items != PAD, action, int(Action.PAD))
    state = model.initial_state(len(items))
    for t in range(items.shape[1]):
        valid = items[:, t] != PAD
        if not bool(valid.any()):
            break
        _, new_state = model.encode(items[:, t : t + 1], actions[:, t : t + 1], state)
        state = torch.where(valid.unsqueeze(1), new_state, state)
    result: np.ndarray = state.numpy()
    return result


def real_step_inputs(
    model: RecurrentRecommender,
    sequences: list[np.ndarray],
    n: int,
    seed: int = 0,
    exclude_width: int = 8,
    action: int = int(Action.CLICK),
    previous: int = 0,
) -> StepInputs:
    """``n`` real inputs: each user's next item after a random prefix, from its true state."""
    rng = np.random.default_rng(seed)
    prefixes, nxt = histories(sequences, n, rng)
    lengths = (prefixes != PAD).sum(axis=1)
    exclude = np.zeros((n, exclude_width), np.int64)
    for row, length in enumerate(lengths):
        recent = prefixes[row, max(0, length - exclude_width) : length]
        exclude[row, : len(recent)] = recent
    # The prefix's latest items, latest first: what a blended step reads besides the event.
    earlier = latest_first(prefixes, lengths, previous) if previous else None
    return StepInputs(
        items=nxt,
        actions=np.full(n, action, np.int64),
        states=encode_states(model, prefixes, action),
        exclude=exclude,
        previous=earlier,
    )


def event_sequences(
    events: Iterable[Event], vocab: Vocabulary, min_len: int = 2
) -> list[np.ndarray]:
    """Item-row sequences per user (time order) of ``events``; users with fewer left out."""
    per_user: dict[str, list[tuple[float, int]]] = {}
    for e in events:
        per_user.setdefault(e.user_id, []).append((e.ts, vocab.index(e.item_id)))
    return [
        np.array([row for _, row in sorted(v, key=lambda p: p[0])], np.int64)
        for v in per_user.values()
        if len(v) >= min_len
    ]
