"""A maximum-inner-product index over a bundle's item rows (faiss HNSW).

Each assigned row is stored as ``[vector, bias]`` and searched with ``[query, 1]``, so an inner
product is the row's exact score (bias included). Ids are vocabulary rows, so rows added later
(cold start, the online trainer's new items) join the same graph without a rebuild. faiss HNSW
was chosen with ``streamrec bench index`` (docs/results/catalog-scale.md): the best recall per
microsecond on trained tables, rows addable one by one, a plain serialised form.

faiss uses OpenMP: searches run on :attr:`threads` threads (one per worker by default, like
ONNX Runtime's session).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

# Measured on the trained Taobao model's 84,793 rows (docs/results/catalog-scale.md): degree 16
# beat 32 on both recall and time per query, and construction breadth 64 builds in 60 % of the
# time of 128 at the same recall.
DEFAULT_M = 16  # graph degree
DEFAULT_EF_CONSTRUCTION = 64
EF_CHOICES = (16, 32, 64, 128, 256, 512)  # search breadths tried at export, smallest first


def _faiss() -> Any:
    import faiss

    return faiss


def augmented(vectors: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``[vector, bias]`` rows, float32, contiguous."""
    out = np.empty((len(vectors), vectors.shape[1] + 1), np.float32)
    out[:, :-1] = vectors
    out[:, -1] = bias
    return out


def queries_of(query: np.ndarray) -> np.ndarray:
    """``[query, 1]`` rows, float32, contiguous."""
    out = np.ones((len(query), query.shape[1] + 1), np.float32)
    out[:, :-1] = query
    return out


@dataclass
class MipsIndex:
    """A faiss ``IndexIDMap(IndexHNSWFlat)`` with inner-product metric; ids are item rows."""

    index: Any
    ef_search: int = 128
    threads: int = 1

    @classmethod
    def build(
        cls,
        table: np.ndarray,
        bias: np.ndarray,
        *,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        build_threads: int | None = None,
    ) -> tuple[MipsIndex, float]:
        """An index over the rows of ``table`` whose ``bias`` is finite; (index, build seconds).

        Built on ``build_threads`` (default: every core); it searches on one thread.
        """
        faiss = _faiss()
        rows = np.flatnonzero(np.isfinite(bias))
        faiss.omp_set_num_threads(build_threads or os.cpu_count() or 1)
        start = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(table.shape[1] + 1, m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = ef_construction
        index = faiss.IndexIDMap(hnsw)
        if len(rows):
            index.add_with_ids(augmented(table[rows], bias[rows]), rows.astype(np.int64))
        built = time.perf_counter() - start
        faiss.omp_set_num_threads(1)
        return cls(index), built

    @property
    def size(self) -> int:
        """Rows in the index."""
        return int(self.index.ntotal)

    @property
    def m(self) -> int:
        """Graph degree."""
        return int(_faiss().downcast_index(self.index.index).hnsw.nb_neighbors(1))

    def search(self, query: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` (B, fetch) of the best rows for ``query`` (B, D); row -1: none."""
        faiss = _faiss()
        faiss.omp_set_num_threads(self.threads)
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, fetch))
        scores, rows = self.index.search(queries_of(query), fetch, params=params)
        return scores, rows

    def add(self, rows: np.ndarray, vectors: np.ndarray, bias: np.ndarray) -> None:
        """Put ``rows`` (new items) into the graph, in place."""
        if len(rows):
            _faiss().omp_set_num_threads(self.threads)
            self.index.add_with_ids(augmented(vectors, bias), np.asarray(rows, np.int64))

    def to_bytes(self) -> bytes:
        """Faiss's own serialised form."""
        return bytes(_faiss().serialize_index(self.index).tobytes())

    @classmethod
    def from_bytes(cls, data: bytes, ef_search: int, threads: int = 1) -> MipsIndex:
        """Inverse of :meth:`to_bytes`."""
        faiss = _faiss()
        index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
        return cls(index, ef_search=ef_search, threads=threads)
