"""Rows for items a trained model never saw, from their catalog text (offline, in torch).

What the worker does when an item is announced on the items topic
(:mod:`streamrec.stream.items.catalog`, :mod:`streamrec.export.item_rows`), done on a checkpoint so
that ``streamrec evaluate --catalog`` scores a model exactly as serving would after the catalog was
announced: each unseen item with a catalog entry gets the next free vocabulary row, its vector is
the text embedding through the checkpoint's learned projection, and its score bias is a quantile of
the known items' biases.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from streamrec.models.data.vocab import RESERVED, Vocabulary
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.gru import RecurrentRecommender

log = logging.getLogger(__name__)


@dataclass
class TextRows:
    """The checkpoint's model and vocabulary with the new items' rows added."""

    model: RecurrentRecommender
    vocab: Vocabulary
    added: list[str]
    skipped_full: int  # new items left out because the vocabulary capacity was reached


@torch.no_grad()
def add_text_rows(
    ckpt: Checkpoint,
    item_ids: Iterable[str],
    texts: Mapping[str, str],
    encoder_dir: Path | None = None,
    bias_quantile: float = 0.5,
) -> TextRows:
    """Give each of ``item_ids`` unknown to ``ckpt`` and present in ``texts`` a text-only row."""
    if ckpt.text_side is None:
        raise ValueError("the checkpoint has no text projection (train it with --catalog)")
    if not ckpt.config.tied:
        raise ValueError("text rows need tied item embeddings")
    model = ckpt.build_model()
    vocab = ckpt.vocab.copy()
    known_rows = slice(RESERVED, vocab.size)
    known_bias = model.item_bias[known_rows].numpy().copy()
    fresh = list(dict.fromkeys(i for i in item_ids if i not in vocab and i in texts))
    room = vocab.capacity - vocab.size
    added, skipped = fresh[:room], max(0, len(fresh) - room)
    if skipped:
        log.warning("vocabulary full: %d new items get no row (re-train with more)", skipped)
    if not added:
        return TextRows(model, vocab, [], skipped)
    from streamrec.models.text.encoder import TextEncoder
    from streamrec.models.text.encoder_export import ensure_text_encoder

    encoder = TextEncoder(ensure_text_encoder(encoder_dir))
    vectors = ckpt.text_side.text_row(encoder.encode([texts[i] for i in added]))
    rows = torch.tensor([vocab.add(i) for i in added])
    bias = float(np.quantile(known_bias, bias_quantile)) if len(known_bias) else 0.0
    model.item_embedding.weight[rows] = torch.from_numpy(vectors)
    model.item_bias[rows] = bias
    return TextRows(model, vocab, added, skipped)
