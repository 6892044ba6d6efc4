"""Optional reduced-precision step graphs, each admitted only if it ranks like fp32.

- ``int8``: dynamic quantization (int8 weights, activations quantized per call) of the MatMul/
  Gemm/Gather weights, for CPU. The embedding table shrinks 4x and the scoring GEMM runs int8.
- ``fp16``: every float weight and op in half precision (inputs/outputs stay float32), for GPU
  only; CPU kernels for half precision are incomplete, so without a GPU it is skipped, not
  guessed.

The gate runs the fp32 graph and the variant on the same real inputs (random ones when none are
given) and admits the variant when its mean top-K set overlap with fp32 is at least
``MIN_OVERLAP`` and its top-1 agrees on at least ``MIN_TOP1`` of the rows.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from streamrec.export import spec
from streamrec.export.errors import SessionError
from streamrec.export.parity import StepInputs
from streamrec.models.inference import GraphRunner, Provider, create_session, gpu_present

log = logging.getLogger(__name__)

MIN_OVERLAP = 0.95  # mean |topK_variant ∩ topK_fp32| / K over the rows checked
MIN_TOP1 = 0.95  # share of rows whose first item is the same
GATE_CHUNK = 1000
FILES = {"int8": spec.STEP_INT8_FILE, "fp16": spec.STEP_FP16_FILE}
PROVIDERS: dict[str, Provider] = {"int8": "cpu", "fp16": "cuda"}


@dataclass(frozen=True)
class VariantReport:
    """Outcome of one variant's gate."""

    name: str
    admitted: bool
    reason: str
    rows: int = 0
    overlap: float = 0.0
    top1: float = 0.0
    identical_rows: float = 0.0
    size_mb: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the manifest."""
        return asdict(self)


def quantize_int8(step_onnx: bytes) -> bytes:
    """Dynamic int8 quantization of the step graph's MatMul/Gemm/Gather weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        proto = onnx.load_from_string(step_onnx)
        # The exporter's intermediate shape annotations trip the quantizer's shape inference;
        # they are hints only, so the quantizer re-infers them.
        proto.graph.ClearField("value_info")
        onnx.save(_gemm_to_matmul(proto), src)
        quantize_dynamic(
            src,
            dst,
            op_types_to_quantize=["MatMul", "Gather"],
            weight_type=QuantType.QInt8,
            per_channel=False,
        )
        return dst.read_bytes()


def _gemm_to_matmul(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite ``Gemm(A, W, C, transB=1)`` on constant ``W`` as ``MatMul(A, W^T) + C``.

    The dynamic quantizer handles MatMul but not a transposed Gemm; the transposed copy of a
    tied table is a second (int8) initializer, so the int8 graph is still half the fp32 size.
    """
    graph = proto.graph
    weights = {init.name: init for init in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0
        if node.op_type != "Gemm" or attrs.get("transA", 0) or node.input[1] not in weights:
            nodes.append(node)
            continue
        if not plain:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        name = f"{node.input[1]}__kn"
        if name not in weights:
            t = numpy_helper.from_array(
                np.ascontiguousarray(w.T if attrs.get("transB") else w), name
            )
            graph.initializer.append(t)
            weights[name] = t
        product = f"{node.output[0]}__mm"
        nodes.append(onnx.helper.make_node("MatMul", [node.input[0], name], [product]))
        if len(node.input) > 2 and node.input[2]:
            nodes.append(onnx.helper.make_node("Add", [product, node.input[2]], [node.output[0]]))
        else:
            nodes.append(onnx.helper.make_node("Identity", [product], [node.output[0]]))
    graph.ClearField("node")
    graph.node.extend(nodes)
    return proto


def convert_fp16(step_onnx: bytes) -> bytes:
    """Half-precision weights and ops; float32 inputs/outputs; TopK's indices kept int64."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load_from_string(step_onnx)
    half = convert_float_to_float16(proto, keep_io_types=True)
    return bytes(half.SerializeToString())


def _top_items(runner: GraphRunner, inputs: StepInputs) -> np.ndarray:
    out = []
    names = tuple(i.name for i in runner.session.get_inputs())
    for start in range(0, len(inputs), GATE_CHUNK):
        x = inputs.slice(start, start + GATE_CHUNK)
        out.append(runner.run(x.feeds(names))[1])
    return np.concatenate(out)


def agreement(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float, float]:
    """(mean top-K set overlap, top-1 agreement, identical rows) of two (rows, K) lists."""
    k = reference.shape[1]
    hits = (reference[:, :, None] == candidate[:, None, :]).any(axis=2)  # (rows, K)
    overlap = float(hits.sum(axis=1).mean()) / k
    top1 = float(np.mean(reference[:, 0] == candidate[:, 0]))
    identical = float(np.mean((reference == candidate).all(axis=1)))
    return overlap, top1, identical


def gate(name: str, fp32: bytes, variant: bytes, inputs: StepInputs) -> VariantReport:
    """Run both graphs on ``inputs``; admit the variant if it ranks like fp32."""
    provider = PROVIDERS[name]
    reference = _top_items(
        GraphRunner(create_session(fp32, provider=provider), spec.STEP_OUTPUTS), inputs
    )
    candidate = _top_items(
        GraphRunner(create_session(variant, provider=provider), spec.STEP_OUTPUTS), inputs
    )
    overlap, top1, identical = agreement(reference, candidate)
    admitted = overlap >= MIN_OVERLAP and top1 >= MIN_TOP1
    reason = (
        f"top-{reference.shape[1]} overlap {overlap:.4f} (min {MIN_OVERLAP}), "
        f"top-1 {top1:.4f} (min {MIN_TOP1})"
    )
    report = VariantReport(
        name, admitted, reason, len(inputs), overlap, top1, identical, len(variant) / 1e6
    )
    log.log(logging.INFO if admitted else logging.WARNING, "variant %s: %s", name, report)
    return report


def build_variants(
    step_onnx: bytes, names: tuple[str, ...], inputs: StepInputs
) -> tuple[dict[str, bytes], dict[str, dict[str, Any]]]:
    """Files of the admitted variants and a report for every one asked for."""
    files: dict[str, bytes] = {}
    reports: dict[str, dict[str, Any]] = {}
    for name in names:
        if name not in FILES:
            raise ValueError(f"unknown variant {name!r} (known: {', '.join(FILES)})")
        if name == "fp16" and not gpu_present():
            reports[name] = VariantReport(
                name, False, "skipped: no GPU to verify fp16 on"
            ).to_dict()
            log.info("variant fp16 skipped: no GPU present")
            continue
        try:
            data = quantize_int8(step_onnx) if name == "int8" else convert_fp16(step_onnx)
            report = gate(name, step_onnx, data, inputs)
        except SessionError as exc:
            report = VariantReport(name, False, f"could not run: {exc}")
        reports[name] = report.to_dict()
        if report.admitted:
            files[FILES[name]] = data
    return files, reports
