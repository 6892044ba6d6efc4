"""Export a checkpoint to a verified bundle: declare (streamrec.export.spec), export, verify, write.

The step graph is exported with torch's dynamo-based exporter (``torch.onnx.export(...,
dynamo=True)``, which needs onnxscript) at batch ``EXPORT_BATCH``, then run in ONNX Runtime on
random inputs at other batch sizes and exclusion widths and, when given, on real inputs, against
the torch reference. Any difference beyond the tolerances of :mod:`streamrec.export.parity`, or a
top-K that differs other than by ties, raises :class:`VerificationError` and nothing is written.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import onnxruntime as ort
import orjson
import torch

from streamrec.export import parity, spec
from streamrec.export.blocked_topk import block_topk
from streamrec.export.bundle import TEXT_SIDE_FILE, Bundle, sha256_bytes, utc_now, write_bundle
from streamrec.export.dynamo import dynamo_proto
from streamrec.export.encode_graph import build_encode, verify_encode
from streamrec.export.errors import ExportError, VerificationError
from streamrec.export.index_gate import INDEX_FLOOR, build_index
from streamrec.export.parity import ParityReport, StepInputs
from streamrec.export.query_graph import export_query, item_table, verify_query
from streamrec.export.step_graph import StepGraph, reference_step
from streamrec.export.variants import build_variants
from streamrec.models.inference import create_session
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.gru import RecurrentRecommender, score_mask
from streamrec.models.nets.neighbours import Blend

log = logging.getLogger(__name__)

Exporter = Literal["dynamo", "torchscript"]
EXPORT_BATCH = 2
EXPORT_EXCLUDE = 3
VERIFY_BATCHES = ((1, 1), (7, 5), (64, 1), (257, 16))  # (batch, exclude width), batch != 2
VERIFY_CHUNK = 1000
VERIFY_SCORES = 50_000_000  # most scores per verification chunk (rows x catalog)
INDEX_MIN_ROWS = 50_000  # assigned rows from which export builds an item index by default


def export_step(
    model: RecurrentRecommender,
    vocab_size: int,
    k: int,
    exporter: Exporter = "dynamo",
    blend: Blend | None = None,
) -> bytes:
    """Serialized ONNX step graph of ``model`` (see streamrec.export.spec for its signature).

    With ``blend``, the transition table is in the graph and ``previous`` is a fifth input.
    """
    graph = StepGraph(model, vocab_size, k, blend).eval()
    c = model.config
    args: tuple[torch.Tensor, ...] = (
        torch.full((EXPORT_BATCH,), 2, dtype=torch.int64),
        torch.ones(EXPORT_BATCH, dtype=torch.int64),
        torch.zeros(EXPORT_BATCH, c.state_size),
        torch.zeros(EXPORT_BATCH, EXPORT_EXCLUDE, dtype=torch.int64),
    )
    names: tuple[str, ...] = spec.STEP_INPUTS
    if blend is not None:
        args = (*args, torch.zeros(EXPORT_BATCH, blend.previous, dtype=torch.int64))
        names = spec.BLEND_STEP_INPUTS
    axes = {n: a for n, a in spec.STEP_DYNAMIC_AXES.items() if n in names or n in spec.STEP_OUTPUTS}
    with torch.no_grad(), warnings.catch_warnings():
        # torch's exporter warns about its own internals (deprecated size checks, axis naming).
        warnings.filterwarnings("ignore", category=FutureWarning, module="torch")
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*_check_is_size")
        if exporter == "dynamo":
            batch = torch.export.Dim(spec.BATCH_AXIS)
            width = torch.export.Dim(spec.EXCLUDE_AXIS)
            shapes = {
                "items": {0: batch},
                "actions": {0: batch},
                "state": {0: batch},
                "exclude": {0: batch, 1: width},
                "previous": {0: batch},
            }
            proto = dynamo_proto(graph, args, names, spec.STEP_OUTPUTS, shapes)
        else:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / spec.STEP_FILE
                torch.onnx.export(
                    graph,
                    args,
                    str(path),
                    dynamo=False,
                    input_names=list(names),
                    output_names=list(spec.STEP_OUTPUTS),
                    dynamic_axes=axes,
                    opset_version=17,
                )
                proto = onnx.load(str(path))
    _, top_items, top_scores, _ = spec.STEP_OUTPUTS
    block_topk(proto, c.num_items, k, top_scores, top_items)  # exact, faster on big catalogs
    onnx.checker.check_model(proto)
    return bytes(proto.SerializeToString())


def run_reference(
    model: RecurrentRecommender,
    mask: torch.Tensor,
    inputs: StepInputs,
    k: int,
    blend: Blend | None = None,
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Torch reference outputs ``(state, top_items, top_scores, buy)`` and full masked scores."""
    out = reference_step(
        model,
        mask,
        torch.from_numpy(inputs.items),
        torch.from_numpy(inputs.actions),
        torch.from_numpy(inputs.states),
        torch.from_numpy(inputs.exclude),
        k,
        blend,
        None if inputs.previous is None else torch.from_numpy(inputs.previous),
    )
    arrays = tuple(t.numpy() for t in out)
    return arrays[:4], arrays[4]


def run_onnx(session: ort.InferenceSession, inputs: StepInputs) -> tuple[np.ndarray, ...]:
    """ORT outputs in the order of ``spec.STEP_OUTPUTS``."""
    names = tuple(i.name for i in session.get_inputs())
    return tuple(session.run(list(spec.STEP_OUTPUTS), inputs.feeds(names)))


def check_parity(
    session: ort.InferenceSession,
    model: RecurrentRecommender,
    vocab_size: int,
    k: int,
    inputs: StepInputs,
    blend: Blend | None = None,
) -> ParityReport:
    """ORT against torch on ``inputs`` (in chunks); the report holds worst diffs and agreement."""
    mask = score_mask(model.config.num_items, vocab_size)
    report = ParityReport()
    # Both engines hold a (chunk, rows) score matrix and its copies: bound it (~200 MB each).
    size = max(1, min(VERIFY_CHUNK, VERIFY_SCORES // model.config.num_items))
    for start in range(0, len(inputs), size):
        chunk = inputs.slice(start, start + size)
        ref, full = run_reference(model, mask, chunk, k, blend)
        parity.accumulate(report, ref, run_onnx(session, chunk), full)
    return report


def verify_step(
    step_onnx: bytes,
    model: RecurrentRecommender,
    vocab_size: int,
    k: int,
    real: StepInputs | None = None,
    seed: int = 0,
    blend: Blend | None = None,
) -> dict[str, Any]:
    """Check the exported graph on random and real inputs; raise VerificationError on mismatch."""
    session = create_session(step_onnx, provider="cpu")
    c = model.config
    rng = np.random.default_rng(seed)
    results: dict[str, Any] = {}
    random_report = ParityReport()
    mask = score_mask(c.num_items, vocab_size)
    batches = verify_batches(c.num_items)
    for batch, width in batches:
        inputs = parity.random_inputs(
            rng, batch, c.num_items, c.num_actions, c.state_size, width, _previous(blend)
        )
        ref, full = run_reference(model, mask, inputs, k, blend)
        parity.accumulate(random_report, ref, run_onnx(session, inputs), full)
    results["random"] = random_report.to_dict()
    if real is not None:
        results["real"] = check_parity(session, model, vocab_size, k, real, blend).to_dict()
    else:
        log.warning("no real inputs given: the step graph is verified on random inputs only")
    results["tolerances"] = {
        "state_atol": parity.STATE_ATOL,
        "score_atol": parity.SCORE_ATOL,
        "buy_atol": parity.BUY_ATOL,
        "tie_atol": parity.TIE_ATOL,
    }
    results["batches"] = [b for b, _ in batches]
    for name in ("random", "real"):
        rep = results.get(name)
        if rep is None:
            continue
        log.info("parity (%s): %s", name, rep)
        # Written as "not <=" so that a NaN difference fails too.
        bad_numbers = not (
            rep["max_state_diff"] <= parity.STATE_ATOL
            and rep["max_score_diff"] <= parity.SCORE_ATOL
            and rep["max_buy_diff"] <= parity.BUY_ATOL
        )
        if bad_numbers or rep["agreement"] < 1.0:
            raise VerificationError(f"ONNX Runtime disagrees with torch on {name} inputs: {rep}")
    return results


def verify_batches(rows: int) -> list[tuple[int, int]]:
    """:data:`VERIFY_BATCHES` with each batch cut to :data:`VERIFY_SCORES` scores over ``rows``.

    A (batch, rows) score matrix is copied several times by both engines; at a million rows a
    batch of 257 alone took gigabytes. Batches stay distinct and never the export batch (2).
    """
    cap = max(3, VERIFY_SCORES // rows)
    out: list[tuple[int, int]] = []
    for batch, width in VERIFY_BATCHES:
        size = batch if batch <= cap else cap
        if size == EXPORT_BATCH or any(size == b for b, _ in out):
            size = max(b for b, _ in out) + 1 if out else 1
        out.append((size, width))
    return out


def _previous(blend: Blend | None) -> int:
    """Width of the ``previous`` input (0: a graph without transitions)."""
    return 0 if blend is None else blend.previous


def json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON so tensors or numpy scalars become plain values."""
    result: dict[str, Any] = orjson.loads(
        orjson.dumps(data, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
    )
    return result


def export_checkpoint(
    checkpoint: Checkpoint | str | Path,
    out_dir: str | Path,
    *,
    k: int = spec.DEFAULT_K,
    version: str | None = None,
    parent: str | None = None,
    real: StepInputs | None = None,
    encode: bool = True,
    variants: tuple[str, ...] = (),
    exporter: Exporter = "dynamo",
    overwrite: bool = False,
    index: bool | None = None,
    index_floor: float = INDEX_FLOOR,
) -> Bundle:
    """Export, verify and atomically write a bundle; raises before writing if parity fails.

    ``real`` are real step inputs (see streamrec.export.realdata) for parity and the variant gates;
    ``encode`` adds the history encoder; ``variants`` lists optional graphs to try
    (``"int8"``, ``"fp16"``), each written only if its gate admits it. A checkpoint with a
    ``text_side`` (trained with item text) carries it into the bundle as ``text_side.npz``.
    ``index`` adds an item index (query graph, item table, HNSW graph) admitted only at
    recall@10 >= ``index_floor`` against exact scoring; None builds one from
    :data:`INDEX_MIN_ROWS` assigned rows.
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint.load(checkpoint)
    model = ckpt.build_model()
    c, vocab = model.config, ckpt.vocab
    if vocab.capacity != c.num_items:
        raise ExportError(f"vocabulary capacity {vocab.capacity} != model rows {c.num_items}")
    side = ckpt.text_side
    if side is not None and side.weight.shape[0] != c.embed_dim:
        raise ExportError(f"text projection rows {side.weight.shape[0]} != embed_dim {c.embed_dim}")
    blend = ckpt.blend
    if real is not None and blend is not None and real.previous is None:
        raise ExportError("real inputs for a blended model need the previous items")
    step_onnx = export_step(model, vocab.size, k, exporter, blend)
    verification: dict[str, Any] = {
        "step": verify_step(step_onnx, model, vocab.size, k, real, blend=blend)
    }
    vocab_json = vocab.to_json()
    files = {spec.STEP_FILE: step_onnx, spec.VOCAB_FILE: vocab_json}
    graphs = {"step": spec.STEP_FILE}
    if encode:
        encode_onnx = build_encode(model)
        verification["encode"] = verify_encode(encode_onnx, model, parity.STATE_ATOL)
        files[spec.ENCODE_FILE], graphs["encode"] = encode_onnx, spec.ENCODE_FILE
    gate_inputs = real or parity.random_inputs(
        np.random.default_rng(1),
        2000,
        c.num_items,
        c.num_actions,
        c.state_size,
        8,
        _previous(blend),
    )
    index_info: dict[str, Any] | None = None
    if index if index is not None else vocab.size >= INDEX_MIN_ROWS:
        query_onnx = export_query(model)
        verification["query"] = verify_query(query_onnx, model)
        table = item_table(model, vocab.size, blend)
        built, report = build_index(
            step_onnx, query_onnx, table, c.state_size, k, gate_inputs, index_floor
        )
        verification["index"] = report.to_dict()
        if built is not None:
            files[spec.QUERY_FILE], graphs["query"] = query_onnx, spec.QUERY_FILE
            files[spec.ITEMS_FILE] = table.to_bytes()
            files[spec.INDEX_FILE] = built.to_bytes()
            index_info = {
                "ef_search": report.ef_search,
                "m": report.m,
                "rows": report.rows,
                "recall": report.recall,
                "floor": index_floor,
            }
    if variants:
        variant_files, verification["variants"] = build_variants(step_onnx, variants, gate_inputs)
        for name in variant_files:
            graphs[Path(name).stem.replace(".", "_")] = name
        files.update(variant_files)
    text: dict[str, Any] | None = None
    if side is not None:
        files[TEXT_SIDE_FILE] = side.to_bytes()
        text = {"file": TEXT_SIDE_FILE, "fusion": side.fusion, "text_dim": side.weight.shape[1]}
    fields: dict[str, Any] = {
        "model_version": version or f"m-{sha256_bytes(step_onnx)[:12]}",
        "created": utc_now(),
        "parent_version": parent,
        "cell": c.cell,
        "dims": {
            "state_size": c.state_size,
            "hidden_dim": c.hidden_dim,
            "embed_dim": c.embed_dim,
            "num_items": c.num_items,
            "vocab_size": vocab.size,
            "num_actions": c.num_actions,
        },
        "k": k,
        "vocab": {
            "file": spec.VOCAB_FILE,
            "sha256": sha256_bytes(vocab_json),
            "size": vocab.size,
            "capacity": vocab.capacity,
        },
        "graphs": graphs,
        "text": text,
        "blend": None if blend is None else blend.describe(),
        "index": index_info,
        "metrics": json_safe(ckpt.metrics),
        "verification": json_safe(verification),
        "export": {
            "exporter": exporter,
            "opset": spec.OPSET,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "inputs": list(spec.BLEND_STEP_INPUTS if blend else spec.STEP_INPUTS),
            "outputs": list(spec.STEP_OUTPUTS),
        },
    }
    return write_bundle(out_dir, files, fields, overwrite=overwrite)
