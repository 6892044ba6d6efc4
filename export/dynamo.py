"""torch's dynamo-based ONNX exporter, called the one way every exported graph needs it."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import onnx
import torch
from torch import nn

from streamrec.export import spec
from streamrec.export.errors import ExportError


def dynamo_proto(
    graph: nn.Module,
    args: tuple[torch.Tensor, ...],
    inputs: Sequence[str],
    outputs: Sequence[str],
    shapes: Mapping[str, dict[int, Any]],
) -> onnx.ModelProto:
    """``graph`` exported at ``args`` with ``shapes`` (input -> {axis: torch.export.Dim})."""
    with torch.no_grad(), warnings.catch_warnings():
        # torch's exporter warns about its own internals (deprecated size checks, axis naming).
        warnings.filterwarnings("ignore", category=FutureWarning, module="torch")
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*_check_is_size")
        program = torch.onnx.export(
            graph,
            args,
            dynamo=True,
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_shapes={n: shapes[n] for n in inputs},
            opset_version=spec.OPSET,
            optimize=True,
            verbose=False,
        )
    if program is None:
        raise ExportError("torch.onnx.export returned no program")
    proto: onnx.ModelProto = program.model_proto
    return proto
