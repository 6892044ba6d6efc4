"""What the step graph and the bundle look like, declared once as data.

The exporter, the verifier, the runtime and the tests read these constants; nothing else
spells a tensor name or a file name.
"""

from __future__ import annotations

from typing import Final

BUNDLE_FORMAT: Final = "streamrec-bundle/1"
MANIFEST_FILE: Final = "manifest.json"
VOCAB_FILE: Final = "vocab.json"
STEP_FILE: Final = "step.onnx"
ENCODE_FILE: Final = "encode.onnx"
STEP_INT8_FILE: Final = "step.int8.onnx"
STEP_FP16_FILE: Final = "step.fp16.onnx"
QUERY_FILE: Final = "query.onnx"
ITEMS_FILE: Final = "items.npz"
INDEX_FILE: Final = "items.faiss"

OPSET: Final = 20
BATCH_AXIS: Final = "batch"
EXCLUDE_AXIS: Final = "exclude"
TIME_AXIS: Final = "time"

# Step graph: one event per user.
#   items (B,) int64, actions (B,) int64, state (B,S) float32, exclude (B,E) int64 (0 = none)
#   -> state_out (B,S) float32, top_items (B,K) int64, top_scores (B,K) float32, buy_prob (B,)
STEP_INPUTS: Final = ("items", "actions", "state", "exclude")
# A step graph with item-to-item transitions (streamrec.models.nets.neighbours.Blend) takes
#   previous (B,P) int64: the user's P items before this event, latest first (0 = none)
PREVIOUS_INPUT: Final = "previous"
BLEND_STEP_INPUTS: Final = (*STEP_INPUTS, PREVIOUS_INPUT)
STEP_OUTPUTS: Final = ("state_out", "top_items", "top_scores", "buy_prob")
STEP_DYNAMIC_AXES: Final[dict[str, dict[int, str]]] = {
    "items": {0: BATCH_AXIS},
    "actions": {0: BATCH_AXIS},
    "state": {0: BATCH_AXIS},
    "exclude": {0: BATCH_AXIS, 1: EXCLUDE_AXIS},
    "previous": {0: BATCH_AXIS},
    "state_out": {0: BATCH_AXIS},
    "top_items": {0: BATCH_AXIS},
    "top_scores": {0: BATCH_AXIS},
    "buy_prob": {0: BATCH_AXIS},
}

# Query graph (large catalogs on CPU): the step without the scoring; the bundle's item index
# (INDEX_FILE, over ITEMS_FILE's rows) finds the top-K.
#   items (B,) int64, actions (B,) int64, state (B,S) float32
#   -> state_out (B,S) float32, query (B,D) float32, buy_prob (B,) float32
INDEX_ROLE: Final = "index"  # the serving "graph" that takes top-K from the bundle's item index
QUERY_INPUTS: Final = ("items", "actions", "state")
QUERY_OUTPUTS: Final = ("state_out", "query", "buy_prob")

# Encode graph: a padded history per user, right-aligned (PAD first), from a given state.
#   items (B,T) int64, actions (B,T) int64, state (B,S) float32 -> state_out (B,S) float32
ENCODE_INPUTS: Final = ("items", "actions", "state")
ENCODE_OUTPUTS: Final = ("state_out",)
ENCODE_DYNAMIC_AXES: Final[dict[str, dict[int, str]]] = {
    "items": {0: BATCH_AXIS, 1: TIME_AXIS},
    "actions": {0: BATCH_AXIS, 1: TIME_AXIS},
    "state": {0: BATCH_AXIS},
    "state_out": {0: BATCH_AXIS},
}
MAX_HISTORY: Final = 50  # longest history re-encoded in one call

DEFAULT_K: Final = 20
