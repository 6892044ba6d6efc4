"""New item rows in a loaded step graph, without retraining or re-exporting (cold start).

The step graph stores the (tied) item table and the per-row score bias (item bias + mask) as
two initializers. :class:`ItemRowScorer` keeps the graph's proto beside its session;
:meth:`ItemRowScorer.with_items` assigns free vocabulary rows to new items, writes their
vectors and bias into copies of those initializers and builds a new session. Existing rows are
untouched, so users' states stay valid and the model version is kept. A session served
through the bundle's item index becomes an :class:`IndexedRowScorer`: new rows go into a copy
of its item table and into the index itself (no rebuild, no new session).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from streamrec.export.bundle import Bundle
from streamrec.export.errors import SessionError
from streamrec.export.indexed_step import IndexedStep
from streamrec.export.runtime import StepRunner, StepSession
from streamrec.export.scored_rows import ITEM_TABLE, SCORE_BIAS
from streamrec.export.step_result import StepResult
from streamrec.models.data.vocab import RESERVED, Vocabulary
from streamrec.models.inference import Provider, provider_of

log = logging.getLogger(__name__)


class _RowScorer:
    """What both growing scorers share: a step, its vocabulary, version and bundle."""

    step: StepRunner | IndexedStep

    def __init__(
        self, vocab: Vocabulary, *, version: str, state_size: int, k: int, bundle: Bundle | None
    ) -> None:
        self.bundle = bundle
        self._vocab = vocab
        self._version = version
        self._state_size = state_size
        self._k = k

    @property
    def version(self) -> str:
        """Model version (unchanged by new rows)."""
        return self._version

    @property
    def state_size(self) -> int:
        """Width of a user state."""
        return self._state_size

    @property
    def k(self) -> int:
        """Items returned per row."""
        return self._k

    @property
    def previous(self) -> int:
        """Earlier items per user the step reads (0: a model without transitions)."""
        return self.step.previous

    @property
    def vocab(self) -> Vocabulary:
        """External id <-> row, new items included."""
        return self._vocab

    def score_bias(self) -> np.ndarray:
        """The score bias of every row (-inf on masked ones)."""
        raise NotImplementedError

    def known_bias(self) -> np.ndarray:
        """Score bias of the assigned item rows (for choosing a new item's bias)."""
        bias = self.score_bias()[RESERVED : self._vocab.size]
        finite: np.ndarray = bias[np.isfinite(bias)]
        return finite

    def _grown_vocab(self, ids: Sequence[str]) -> tuple[Vocabulary, np.ndarray]:
        """A copy of the vocabulary with ``ids`` added, and their rows (VocabularyFullError)."""
        vocab = self._vocab.copy()
        return vocab, np.array([vocab.add(i) for i in ids], dtype=np.int64)

    def run(
        self,
        items: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray,
        exclude: np.ndarray | None = None,
        previous: np.ndarray | None = None,
    ) -> StepResult:
        """Apply one event per user (see :meth:`streamrec.export.runtime.StepSession.run`)."""
        return self.step.run(items, actions, states, exclude, previous)


class ItemRowScorer(_RowScorer):
    """A step scorer (streamrec.stream.serving.step.Scorer) whose graph can take new item rows.

    ``bundle`` is the bundle the graph came from (its text projection serves new items).
    """

    def __init__(
        self,
        proto: onnx.ModelProto,
        vocab: Vocabulary,
        *,
        version: str,
        state_size: int,
        k: int,
        provider: Provider = "cpu",
        threads: int | None = None,
        bundle: Bundle | None = None,
    ) -> None:
        super().__init__(vocab, version=version, state_size=state_size, k=k, bundle=bundle)
        self.proto = proto
        self._provider: Provider = provider
        self._threads = threads
        self._init = {i.name: n for n, i in enumerate(proto.graph.initializer)}
        for name in (ITEM_TABLE, SCORE_BIAS):
            if name not in self._init:
                raise SessionError(f"step graph has no {name!r} initializer (not a tied model?)")
        self.step = StepRunner(
            proto.SerializeToString(),
            state_size,
            provider=provider,
            threads=threads,
            spin=False,
            assigned=vocab.size,  # only the rows in use are scored; cut again as items come
            k=k,
        )

    @classmethod
    def from_session(
        cls, session: StepSession, threads: int | None = None
    ) -> ItemRowScorer | IndexedRowScorer:
        """The same graph as a bundle's step session, ready to take new rows."""
        if isinstance(session.step, IndexedStep):
            return IndexedRowScorer(
                session.step, session.vocab.copy(), version=session.version, bundle=session.bundle
            )
        proto = onnx.load_from_string(session.bundle.graph_bytes(session.graph))
        vocab = session.vocab.copy()
        return cls(
            proto,
            vocab,
            version=session.version,
            state_size=session.state_size,
            k=session.k,
            provider=provider_of(session.provider),
            threads=threads,
            bundle=session.bundle,
        )

    def array(self, name: str) -> np.ndarray:
        """A copy of an initializer as numpy."""
        out: np.ndarray = numpy_helper.to_array(self.proto.graph.initializer[self._init[name]])
        return out.copy()

    def score_bias(self) -> np.ndarray:
        """The score bias of every row, from the graph's initializer."""
        return self.array(SCORE_BIAS)

    def with_items(
        self, ids: Sequence[str], vectors: np.ndarray, bias: float | np.ndarray
    ) -> ItemRowScorer:
        """A new scorer where ``ids`` (new ones get free rows) have ``vectors`` ``(n, E)``."""
        vocab, rows = self._grown_vocab(ids)
        table, score_bias = self.array(ITEM_TABLE), self.array(SCORE_BIAS)
        table[rows] = np.asarray(vectors, np.float32)
        score_bias[rows] = np.broadcast_to(np.asarray(bias, np.float32), rows.shape)
        proto = copy.deepcopy(self.proto)
        for name, value in ((ITEM_TABLE, table), (SCORE_BIAS, score_bias)):
            proto.graph.initializer[self._init[name]].CopyFrom(numpy_helper.from_array(value, name))
        log.info("added %d item rows (vocabulary %d/%d)", len(rows), vocab.size, vocab.capacity)
        return ItemRowScorer(
            proto,
            vocab,
            version=self._version,
            state_size=self._state_size,
            k=self._k,
            provider=self._provider,
            threads=self._threads,
            bundle=self.bundle,
        )


class IndexedRowScorer(_RowScorer):
    """A step scorer served through an item index that can take new item rows."""

    def __init__(
        self, step: IndexedStep, vocab: Vocabulary, *, version: str, bundle: Bundle | None
    ) -> None:
        super().__init__(
            vocab, version=version, state_size=step.state_size, k=step.k, bundle=bundle
        )
        self.step: IndexedStep = step

    def score_bias(self) -> np.ndarray:
        """The score bias of every row, from the item table."""
        return self.step.items.bias

    def with_items(
        self, ids: Sequence[str], vectors: np.ndarray, bias: float | np.ndarray
    ) -> IndexedRowScorer:
        """A new scorer where ``ids`` (new ones get free rows) have ``vectors`` ``(n, E)``."""
        vocab, rows = self._grown_vocab(ids)
        step = self.step.with_items(rows, vectors, bias)
        log.info("added %d item rows to the index (vocabulary %d/%d)", len(rows), vocab.size,
                 vocab.capacity)  # fmt: skip
        return IndexedRowScorer(step, vocab, version=self._version, bundle=self.bundle)
