"""Score only the catalog rows in use, in cache-sized calls.

A model is built with room to grow (``capacity`` rows, 25 % more than its items by default) so
new items can get rows without retraining. Those unassigned rows score ``-inf`` and are never
returned, yet the scoring GEMM and the top-K ran over them on every event. A loaded graph is
cut to the assigned rows (rounded up to the blocked top-K's block height), and a graph given
new rows (cold start) is cut again from the uncut one.

The item table is also the input embedding (tied weights), so an input row beyond the cut
would be read out of bounds: :func:`clip` maps such rows (a state written by a worker that had
already given rows to more new items) to what they are here, unknown items.

On a CPU a batch is also scored in calls of at most :func:`events_per_call` events: a call's
(batch, rows) score matrix is written once and read by each following pass (exclusions,
transitions, the top-K's two passes), which is cheap while it fits the core's cache and costs
a trip to memory per pass when it does not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper

from streamrec.export.blocked_topk import ROWS_PER_BLOCK, is_blocked, min_rows
from streamrec.models.data.vocab import PAD, UNK

ITEM_TABLE = "model.item_embedding.weight"  # (num_items, embed_dim), tied in and out
SCORE_BIAS = "score_bias"  # (num_items,): item bias, -inf on unassigned rows


SCORES_PER_CALL = 1_500_000  # float32 scores per ONNX call on a CPU (6 MB): cache-sized
MIN_EVENTS_PER_CALL = 16
MAX_EVENTS_PER_CALL = 256


def events_per_call(rows: int) -> int:
    """Most events per CPU call of a step scoring ``rows`` rows (0: no limit; rows unknown).

    The call writes a (batch, rows) score matrix and reads it again for the exclusions, the
    transitions and the top-K; past the core's cache every pass goes to memory. Measured on
    84,800 rows: 216 us per event at batch 256, 133 at 16; on 18,304 rows 35 at 256, 32 at 64.
    """
    if rows <= 0:
        return 0
    return max(MIN_EVENTS_PER_CALL, min(MAX_EVENTS_PER_CALL, SCORES_PER_CALL // rows))


def rows_to_score(assigned: int, capacity: int, k: int, blocks: bool) -> int:
    """Rows a graph of ``capacity`` rows scores when ``assigned`` of them hold items."""
    if blocks:
        rows = max(-(-assigned // ROWS_PER_BLOCK) * ROWS_PER_BLOCK, min_rows(k))
    else:
        rows = max(assigned, k)
    return min(rows, capacity)


def cut_rows(proto: onnx.ModelProto, assigned: int, k: int) -> tuple[onnx.ModelProto, int, int]:
    """``(graph, rows scored, capacity)``: ``proto`` cut to the rows in use, or as it is.

    A graph without the tied table and the score bias as initializers (a quantized variant)
    is returned unchanged.
    """
    index = {init.name: n for n, init in enumerate(proto.graph.initializer)}
    if ITEM_TABLE not in index or SCORE_BIAS not in index:
        return proto, 0, 0
    table = proto.graph.initializer[index[ITEM_TABLE]]
    bias = proto.graph.initializer[index[SCORE_BIAS]]
    capacity = int(table.dims[0])
    if len(bias.dims) != 1 or int(bias.dims[0]) != capacity:
        return proto, capacity, capacity
    rows = rows_to_score(assigned, capacity, k, is_blocked(proto))
    if rows >= capacity:
        return proto, capacity, capacity
    cut = onnx.ModelProto()
    cut.CopyFrom(proto)
    for name in (ITEM_TABLE, SCORE_BIAS):
        init = cut.graph.initializer[index[name]]
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init)[:rows].copy(), name))
    return cut, rows, capacity


def clip(rows: npt.NDArray[np.int64], limit: int, to: int) -> npt.NDArray[np.int64]:
    """``rows`` with those at or beyond ``limit`` replaced by ``to`` (a copy only if needed)."""
    beyond = rows >= limit
    if not beyond.any():
        return rows
    return np.where(beyond, to, rows)


def clip_inputs(
    items: npt.NDArray[np.int64],
    exclude: npt.NDArray[np.int64],
    previous: npt.NDArray[np.int64] | None,
    limit: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
    """Input rows a cut graph lacks: unknown items, no exclusion, no earlier item."""
    return (
        clip(items, limit, UNK),
        clip(exclude, limit, PAD),
        None if previous is None else clip(previous, limit, PAD),
    )
