"""The served model: a step scorer plus its row -> external id table and its lineage.

What :mod:`streamrec.stream.serving.step` needs of a loaded model, declared as protocols (the
worker's is :class:`streamrec.export.runtime.StepSession`), and :class:`ServingModel`, which
turns rows into item ids and re-encodes rows of states an earlier model wrote (see the step's
module docstring on vocabulary changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from streamrec.models.data.vocab import RESERVED, UNK

if TYPE_CHECKING:
    from streamrec.export.bundle import Bundle


class StepOutput(Protocol):
    """What one model call returns (streamrec.export.runtime's StepResult)."""

    @property
    def states(self) -> npt.NDArray[np.float32]:
        """New states, (B, S)."""

    @property
    def top_items(self) -> npt.NDArray[np.int64]:
        """Best vocabulary rows, (B, K)."""

    @property
    def top_scores(self) -> npt.NDArray[np.float32]:
        """Their scores, descending; -inf marks "no item", (B, K)."""

    @property
    def buy_prob(self) -> npt.NDArray[np.float32]:
        """Probability that the next action is a buy, (B,)."""


class ItemIndex(Protocol):
    """External item id -> vocabulary row (streamrec.models.data.vocab.Vocabulary)."""

    ids: list[str]

    def index(self, raw: object) -> int:
        """Row of an item (UNK when unknown)."""

    def __contains__(self, raw: object) -> bool: ...


class Scorer(Protocol):
    """A loaded step model (streamrec.export.runtime's session)."""

    @property
    def version(self) -> str:
        """Model version written into states and recommendations."""

    @property
    def state_size(self) -> int:
        """Width of a user state."""

    @property
    def k(self) -> int:
        """Items returned per row."""

    @property
    def previous(self) -> int:
        """Earlier items per user the step reads besides the event's (0: none)."""

    @property
    def vocab(self) -> ItemIndex:
        """External id <-> row."""

    @property
    def bundle(self) -> Bundle | None:
        """The bundle it was loaded from (cold start reads its text projection), if any."""

    def run(
        self,
        items: npt.NDArray[np.int64],  # (B,)
        actions: npt.NDArray[np.int64],  # (B,)
        states: npt.NDArray[np.float32],  # (B, S)
        exclude: npt.NDArray[np.int64],  # (B, E), padded with 0
        previous: npt.NDArray[np.int64] | None = None,  # (B, P), latest first, padded with 0
    ) -> StepOutput:
        """One event per row: new states and the top-K excluding ``exclude`` rows."""


RowIds = npt.NDArray[np.object_]  # (rows,) external id of each row; "" for reserved rows


class ServingModel:
    """A scorer plus its row -> external id table, built once per loaded model.

    ``lineage`` holds the row tables of earlier versions whose users' states this model can
    re-encode (see the module docstring).
    """

    def __init__(self, scorer: Scorer, lineage: Mapping[str, RowIds] | None = None) -> None:
        self.scorer = scorer
        self.version = scorer.version
        ids = scorer.vocab.ids
        self._ids: RowIds = np.array([""] * RESERVED + list(ids), dtype=object)
        self.size = len(self._ids)
        self.lineage: dict[str, RowIds] = dict(lineage or {})
        self.lineage.pop(self.version, None)

    @property
    def row_ids(self) -> RowIds:
        """External id of each row of this model."""
        return self._ids

    def remember(self, version: str, ids: RowIds) -> None:
        """Make states written by ``version`` (whose row table is ``ids``) re-encodable."""
        if version != self.version:
            self.lineage[version] = ids

    def succeed(self, previous: ServingModel, keep: int) -> None:
        """Take over from ``previous``: its lineage and its own table, the newest ``keep``."""
        merged = {**self.lineage, **previous.lineage}
        merged.pop(previous.version, None)
        merged[previous.version] = previous.row_ids
        merged.pop(self.version, None)
        self.lineage = dict(list(merged.items())[-keep:])

    def translate(self, version: str, rows: npt.NDArray[np.int32]) -> npt.NDArray[np.int32] | None:
        """Rows of a state written by ``version``, as this model's rows (None: unknown)."""
        if version == self.version:
            return rows
        ids = self.lineage.get(version)
        if ids is None:
            return None
        vocab = self.scorer.vocab
        n = len(ids)
        out = [
            r if r < RESERVED else (vocab.index(ids[r]) if r < n else UNK) for r in rows.tolist()
        ]
        return np.asarray(out, dtype=np.int32)

    def items(
        self, rows: npt.NDArray[np.integer[Any]], scores: npt.NDArray[np.floating[Any]]
    ) -> tuple[list[str], list[float]]:
        """External ids and scores of rows; reserved, unassigned and -inf rows are dropped."""
        keep = (rows >= RESERVED) & (rows < self.size) & np.isfinite(scores)
        if not keep.all():
            rows, scores = rows[keep], scores[keep]
        return list(self._ids[rows]), scores.astype(np.float64).tolist()

    def items_of_rows(
        self, rows: npt.NDArray[np.integer[Any]], scores: npt.NDArray[np.floating[Any]]
    ) -> tuple[list[list[str]], list[list[float]]]:
        """:meth:`items` of each row of ``(B, K)`` rows and scores, in one pass over the batch."""
        keep = (rows >= RESERVED) & (rows < self.size) & np.isfinite(scores)
        if keep.all():  # the usual case: whole matrices to lists in two calls
            return self._ids[rows].tolist(), scores.astype(np.float64).tolist()
        ids: list[list[str]] = []
        values: list[list[float]] = []
        for j in range(len(rows)):
            i, v = self.items(rows[j], scores[j])
            ids.append(i)
            values.append(v)
        return ids, values
