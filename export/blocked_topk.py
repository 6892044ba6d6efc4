"""Exact top-K over a large catalog in two small passes instead of one selection over every row.

ONNX Runtime's TopK selects from the whole ``(B, N)`` score matrix element by element; at
20,000-100,000 rows that was a third to a half of the step graph's time. Laid out as
``(B, R, N/R)`` (row ``r * N/R + c`` at ``[r, c]``), column ``c`` is the strided block of rows
``c, c + N/R, ...``:

1. ReduceMax over the ``R`` axis gives each block's best score, one vectorised pass;
2. the K best blocks by that maximum are chosen (a TopK over ``N/R`` values);
3. the final TopK runs over those blocks' ``R * K`` scores only.

Exact: a row of the true top-K scores ``s`` lies in a block whose maximum is at least ``s``; if
that block were not among the K best, K other blocks would each hold a row scoring at least its
maximum, so ``s`` would not be in the top K. Rows of equal score may come out in another order
than a plain TopK's (the export's verifier counts such rows as ties).

:func:`block_topk` rewrites an exported step graph's TopK into these nodes. They read the
number of rows from the scores at run time, so the item table can later be cut to the rows
in use (:mod:`streamrec.export.scored_rows`) as long as they stay a multiple of ``R``.
"""

from __future__ import annotations

from typing import Final

import onnx
from onnx import TensorProto, helper

ROWS_PER_BLOCK: Final = 32  # R: 16-32 measured fastest at 20k-100k rows on a 2-core CPU
MIN_BLOCKS_PER_K: Final = 4  # fewer blocks than 4K: one plain TopK is as cheap
_PREFIX: Final = "blocked_topk/"


def blocked(rows: int, k: int) -> bool:
    """Whether a catalog of ``rows`` rows is selected in blocks (else by one plain TopK)."""
    return rows % ROWS_PER_BLOCK == 0 and rows // ROWS_PER_BLOCK >= MIN_BLOCKS_PER_K * k


def min_rows(k: int) -> int:
    """Fewest rows a blocked graph may be cut to (a multiple of the block height)."""
    return ROWS_PER_BLOCK * MIN_BLOCKS_PER_K * k


def is_blocked(proto: onnx.ModelProto) -> bool:
    """Whether ``proto``'s top-K runs in blocks (its rows must stay a multiple of the height)."""
    return any(n.name.startswith(_PREFIX) for n in proto.graph.node)


def block_topk(proto: onnx.ModelProto, rows: int, k: int, scores_out: str, rows_out: str) -> bool:
    """Replace the TopK producing ``scores_out``/``rows_out`` with the blocked one, in place.

    ``rows`` is the width of its input; nothing changes (False) when :func:`blocked` says no.
    """
    graph = proto.graph
    found = [
        i
        for i, n in enumerate(graph.node)
        if n.op_type == "TopK" and list(n.output) == [scores_out, rows_out]
    ]
    if len(found) != 1 or not blocked(rows, k):
        return False
    at = found[0]
    old = graph.node[at]
    if any(
        a.name == "axis" and helper.get_attribute_value(a) not in (1, -1) for a in old.attribute
    ):
        return False
    scores = old.input[0]
    p = _PREFIX

    def name(s: str) -> str:
        return p + s

    consts = [
        helper.make_tensor(name("grid_shape"), TensorProto.INT64, [3], [0, ROWS_PER_BLOCK, -1]),
        helper.make_tensor(name("axis1"), TensorProto.INT64, [1], [1]),
        helper.make_tensor(name("k"), TensorProto.INT64, [1], [k]),
        helper.make_tensor(name("spread"), TensorProto.INT64, [3], [1, ROWS_PER_BLOCK, 1]),
        helper.make_tensor(name("flat"), TensorProto.INT64, [2], [0, -1]),
        helper.make_tensor(name("k_scalar"), TensorProto.INT64, [], [k]),
    ]
    nodes = [
        # (B, R, N/R): row r*N/R + c at [r, c]
        helper.make_node("Reshape", [scores, name("grid_shape")], [name("grid")], name("grid")),
        # (B, N/R) each block's maximum; axes became an input in opset 18
        helper.make_node(
            "ReduceMax", [name("grid"), name("axis1")], [name("best")], name("best"), keepdims=0
        )
        if _opset(proto) >= 18
        else helper.make_node(
            "ReduceMax", [name("grid")], [name("best")], name("best"), keepdims=0, axes=[1]
        ),
        helper.make_node(
            "TopK", [name("best"), name("k")], [name("_"), name("cols")], name("blocks"), axis=1
        ),  # (B, K) the K best blocks
        helper.make_node(
            "Unsqueeze", [name("cols"), name("axis1")], [name("cols3")], name("cols3")
        ),  # (B, 1, K)
        helper.make_node(
            "Expand", [name("cols3"), name("spread")], [name("picked")], name("picked")
        ),  # (B, R, K)
        helper.make_node(
            "GatherElements", [name("grid"), name("picked")], [name("cand3")], name("cand3"), axis=2
        ),  # (B, R, K)
        helper.make_node(
            "Reshape", [name("cand3"), name("flat")], [name("cand")], name("cand")
        ),  # (B, R*K); [r, j] at r*K + j
        helper.make_node(
            "TopK", [name("cand"), name("k")], [scores_out, name("at")], name("final"), axis=1
        ),
        helper.make_node("Div", [name("at"), name("k_scalar")], [name("r")], name("r")),
        helper.make_node("Mod", [name("at"), name("k_scalar")], [name("j")], name("j")),
        helper.make_node(
            "GatherElements", [name("cols"), name("j")], [name("c")], name("c"), axis=1
        ),
        helper.make_node("Shape", [name("best")], [name("width")], name("width"), start=1),
        helper.make_node("Mul", [name("r"), name("width")], [name("base")], name("base")),
        helper.make_node("Add", [name("base"), name("c")], [rows_out], name("rows")),
    ]
    del graph.node[at]
    for offset, node in enumerate(nodes):
        graph.node.insert(at + offset, node)
    graph.initializer.extend(consts)
    return True


def _opset(proto: onnx.ModelProto) -> int:
    """The graph's default-domain opset."""
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
