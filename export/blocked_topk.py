"""Exact top-K over a large catalog in two small passes instead of one selection over every row.

ONNX Runtime's TopK selects from the whole ``(B, N)`` score matrix element by element; at
20,000-100,000 rows that is a third to a half of the step graph's time. Laid out as ``(B, R, N/R)``
(row ``r * N/R + c`` at ``[r, c]``), column ``c`` is the strided block of rows ``c, c + N/R, ...``:

1. ``amax`` over the ``R`` axis gives each block's best score, a vectorised pass over the matrix;
2. the K best blocks by that maximum are chosen (a TopK over ``N/R`` values);
3. the final TopK runs over those blocks' ``R * K`` scores only.

Exact: a row of the true top-K scores ``s`` lies in a block whose maximum is at least ``s``; if
that block were not among the K best, K other blocks would each hold a row scoring at least its
maximum, so ``s`` would not be in the top K. Rows of equal score may come out in another order
than a plain TopK's (the export's verifier counts such rows as ties).
"""

from __future__ import annotations

import torch
from torch import Tensor

ROWS_PER_BLOCK = 32  # R: 16-32 measured fastest at 20k-100k rows on a 2-core CPU
MIN_BLOCKS_PER_K = 4  # fewer blocks than 4K: a plain TopK is as cheap


def blocked(rows: int, k: int) -> bool:
    """Whether a catalog of ``rows`` rows is scored through blocks (else one plain TopK)."""
    return rows % ROWS_PER_BLOCK == 0 and rows // ROWS_PER_BLOCK >= MIN_BLOCKS_PER_K * k


def topk_rows(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``(top scores, top rows)`` of each row of ``scores`` (B, N), descending, like torch.topk."""
    rows = scores.shape[1]
    if not blocked(rows, k):
        top_scores, top_rows = torch.topk(scores, k, dim=1)
        return top_scores, top_rows
    width = rows // ROWS_PER_BLOCK  # blocks
    grid = scores.reshape(-1, ROWS_PER_BLOCK, width)  # (B, R, N/R); row r*width + c at [r, c]
    _, cols = torch.topk(grid.amax(dim=1), k, dim=1)  # (B, K) the K best blocks
    picked = cols.unsqueeze(1).expand(-1, ROWS_PER_BLOCK, -1)  # (B, R, K)
    candidates = torch.gather(grid, 2, picked).flatten(1)  # (B, R*K), [r, j] at r*K + j
    top_scores, at = torch.topk(candidates, k, dim=1)  # (B, K)
    top_rows = torch.div(at, k, rounding_mode="floor") * width + torch.gather(cols, 1, at % k)
    return top_scores, top_rows
