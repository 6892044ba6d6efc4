"""Serving side of the text encoder: ``tokenizers`` + ONNX Runtime, batched, cached by text hash.

Imports neither torch nor transformers. :class:`TextEncoder` reads a directory written by
:func:`streamrec.models.text.encoder_export.export_text_encoder` and turns item texts into unit-norm
embeddings ``(n, dim)``; an embedding is computed once per distinct text (LRU cache keyed by
the text's sha256), and texts are run in batches sorted by length so padding stays small.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from streamrec.models.inference import GraphRunner, create_session

log = logging.getLogger(__name__)

_ONNX = "text_encoder.onnx"  # encoder_export.TEXT_ONNX (not imported: that module needs torch)
_TOKENIZER = "tokenizer.json"
_OUTPUTS = ("embedding",)
_MAX_TOKENS = 128


def load_tokenizer(path: str | Path, max_tokens: int = _MAX_TOKENS) -> Tokenizer:
    """The WordPiece tokenizer of ``tokenizer.json``, truncating, padding per batch."""
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_tokens)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def tokenize(tok: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``input_ids`` and ``attention_mask``, both ``(B, T)`` int64, padded to the longest."""
    encs = tok.encode_batch(list(texts))
    ids = np.array([e.ids for e in encs], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
    return ids, mask


class TextEncoder:
    """Item text -> unit-norm sentence embedding, run by ONNX Runtime."""

    def __init__(
        self,
        directory: str | Path,
        *,
        batch_size: int = 64,
        cache_size: int = 100_000,
        threads: int | None = None,
    ) -> None:
        directory = Path(directory)
        self.directory = directory
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.tokenizer = load_tokenizer(directory / _TOKENIZER)
        session = create_session(directory / _ONNX, provider="cpu", threads=threads, spin=False)
        self.runner = GraphRunner(session, _OUTPUTS)
        self.dim = int(session.get_outputs()[0].shape[1] or 0) or self._probe_dim()
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _probe_dim(self) -> int:
        return int(self._run(["x"]).shape[1])

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask of ``texts`` (padded to the longest)."""
        return tokenize(self.tokenizer, texts)

    def _run(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        ids, mask = self.tokenize(texts)
        out = self.runner.run({"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(out, dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embeddings ``(len(texts), dim)`` float32; cached texts are not run again."""
        from streamrec.models.data.catalog import text_hash

        keys = [text_hash(t) for t in texts]
        out = np.empty((len(texts), self.dim), np.float32)
        todo: dict[str, int] = {}
        for i, key in enumerate(keys):
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                out[i] = hit
                self.hits += 1
            elif key not in todo:
                todo[key] = i
        self.misses += len(todo)
        fresh = sorted(todo.items(), key=lambda kv: len(texts[kv[1]]))  # similar lengths
        computed: dict[str, npt.NDArray[np.float32]] = {}
        for start in range(0, len(fresh), self.batch_size):
            chunk = fresh[start : start + self.batch_size]
            vectors = self._run([texts[i] for _, i in chunk])
            for (key, _), vec in zip(chunk, vectors, strict=True):
                computed[key] = vec
                if self.cache_size > 0:
                    self._cache[key] = vec
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        for i, key in enumerate(keys):
            if key in computed:
                out[i] = computed[key]
        return out
