"""The learned text projection as numpy: what serving needs to give a new item its row.

Kept free of torch so that the worker (ONNX Runtime only) can load it from a bundle. The
model that learns it is :class:`streamrec.models.text.fusion.TextFusedRecommender`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Literal

import numpy as np
import numpy.typing as npt

Fusion = Literal["sum", "gate", "concat"]
FUSIONS: tuple[Fusion, ...] = ("sum", "gate", "concat")


@dataclass(frozen=True)
class TextSide:
    """Fusion kind and projection weights; :meth:`text_row` is a text-only item vector."""

    fusion: Fusion
    weight: npt.NDArray[np.float32]  # (E, T)
    bias: npt.NDArray[np.float32]  # (E,)
    mix: npt.NDArray[np.float32] | None = None  # (E, 2E) for concat

    def text_row(self, text: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Item vectors ``(n, E)`` of items known only by their text ``(n, T)``."""
        t = text @ self.weight.T + self.bias
        if self.mix is not None:  # id half is zero for an item without interactions
            t = t @ self.mix[:, self.mix.shape[0] :].T
        return np.ascontiguousarray(t, dtype=np.float32)

    def arrays(self) -> dict[str, npt.NDArray[np.float32]]:
        """The weights by name (``mix`` only for concat)."""
        out = {"weight": self.weight, "bias": self.bias}
        if self.mix is not None:
            out["mix"] = self.mix
        return out

    @classmethod
    def from_arrays(cls, fusion: str, arrays: dict[str, np.ndarray]) -> TextSide:
        """Inverse of :meth:`arrays`; checks the fusion name."""
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}")
        f32 = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        return cls(fusion, f32["weight"], f32["bias"], f32.get("mix"))  # type: ignore[arg-type]

    def to_bytes(self) -> bytes:
        """The ``.npz`` bytes of :meth:`save` (a bundle file)."""
        buf = io.BytesIO()
        self.save(buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TextSide:
        """Inverse of :meth:`to_bytes`."""
        return cls.load(io.BytesIO(data))

    def save(self, path: str | IO[bytes]) -> None:
        """Write as ``.npz``."""
        np.savez(path, fusion=np.array(self.fusion), **self.arrays())  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | IO[bytes]) -> TextSide:
        """Inverse of :meth:`save`."""
        with np.load(path) as z:
            return cls.from_arrays(str(z["fusion"]), {k: z[k] for k in z.files if k != "fusion"})
