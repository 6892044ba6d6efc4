"""A trained checkpoint's catalog grown to a size asked for, with items near its own.

For measuring what a large catalog costs with a real model's table: an untrained model's
Gaussian rows have none of the structure (clusters, popular directions) that a trained table
has and that a graph index relies on, so they would understate an index and overstate exact
scoring's share. Each added item is a trained item's vector and bias plus Gaussian noise.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from streamrec.models.data.vocab import RESERVED, Vocabulary
from streamrec.models.nets.checkpoint import Checkpoint

NOISE = 0.5  # an added item: a trained row plus Gaussian noise of this share of each dim's spread


def grow_catalog(ckpt: Checkpoint, total: int, seed: int = 0) -> Checkpoint:
    """``ckpt`` with items added (``catalog-<n>``) until its vocabulary holds ``total`` items.

    Each added item copies a random trained item's vector and bias, plus Gaussian noise of
    :data:`NOISE` times each dimension's spread over the trained rows. Transitions are kept
    (added items lead nowhere). Returns ``ckpt`` itself when it already holds ``total``.
    """
    known = ckpt.vocab.ids
    extra = total - len(known)
    if extra <= 0:
        return ckpt
    vocab = Vocabulary.build([*known, *(f"catalog-{n}" for n in range(extra))])
    rows = vocab.capacity
    rng = np.random.default_rng(seed)
    trained = np.arange(RESERVED, RESERVED + len(known))
    source = rng.choice(trained, extra)
    state = dict(ckpt.state_dict)
    for name in ("item_embedding.weight", "output_embedding.weight", "item_bias"):
        if name not in state:
            continue
        old = state[name].detach().numpy()
        grown = np.zeros((rows, *old.shape[1:]), np.float32)
        grown[: len(old)] = old
        spread = old[trained].std(axis=0)
        noise = rng.normal(0.0, 1.0, (extra, *old.shape[1:])) * spread * NOISE
        grown[RESERVED + len(known) : RESERVED + total] = old[source] + noise
        state[name] = torch.from_numpy(grown)
    config = replace(ckpt.config, num_items=rows)
    return replace(ckpt, config=config, state_dict=state, vocab=vocab)
