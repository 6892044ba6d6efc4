"""The step graph's session: CUDA with I/O binding on a GPU, tuned CPU otherwise, warmed up.

Workers import this module, never torch. Sessions come from
:func:`streamrec.models.inference.create_session`, which picks and logs the provider.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from streamrec.export.bundle import Bundle, Manifest, load_bundle
from streamrec.export.errors import SessionError
from streamrec.export.scored_rows import clip_inputs, cut_rows, events_per_call
from streamrec.export.spec import (
    BLEND_STEP_INPUTS,
    ENCODE_OUTPUTS,
    INDEX_ROLE,
    PREVIOUS_INPUT,
    STEP_INPUTS,
    STEP_OUTPUTS,
)
from streamrec.export.step_result import StepResult
from streamrec.models.data.vocab import Vocabulary
from streamrec.models.inference import (
    CUDA,
    GraphRunner,
    Provider,
    create_session,
    provider_of,
)

if TYPE_CHECKING:
    from streamrec.export.indexed_step import IndexedStep

log = logging.getLogger(__name__)

WARMUP_BATCHES = (1, 64)


class StepRunner:
    """A step graph's ORT session and its numpy call: what every step scorer shares.

    :attr:`previous` is how many earlier items per user the graph reads (0 for a graph
    without item-to-item transitions, which ignores ``previous``).
    """

    def __init__(
        self,
        graph: bytes,
        state_size: int,
        *,
        provider: Provider = "auto",
        threads: int | None = None,
        spin: bool = True,
        assigned: int | None = None,
        k: int = 0,
    ) -> None:
        # rows: how many rows the session scores when the graph was cut to the ``assigned``
        # rows in use (streamrec.export.scored_rows); 0 when it scores every row exported.
        # per_call: most events per ONNX call on a CPU, so that each call's score matrix stays
        # in the core's cache (streamrec.export.scored_rows.events_per_call); 0: whole batches.
        self.rows = 0
        self.per_call = 0
        if assigned is not None:
            proto, rows, capacity = cut_rows(onnx.load_from_string(graph), assigned, k)
            if rows < capacity:
                graph, self.rows = proto.SerializeToString(), rows
            self.per_call = events_per_call(rows)
        self.session = create_session(graph, provider=provider, threads=threads, spin=spin)
        self.provider = self.session.get_providers()[0]
        if self.provider == CUDA:
            self.per_call = 0  # a GPU wants its batches whole
        self.state_size = state_size
        self.previous = 0
        self._check_signature()
        self.runner = GraphRunner(self.session, STEP_OUTPUTS)

    def run(
        self,
        items: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray,
        exclude: np.ndarray | None = None,
        previous: np.ndarray | None = None,
    ) -> StepResult:
        """Apply one event per user; ``exclude`` (B,E) rows are never returned (0 = none).

        ``previous`` (B, :attr:`previous`) the users' earlier items, latest first (0 = none).
        """
        batch = len(items)
        feeds: dict[str, np.ndarray] = {
            "items": np.ascontiguousarray(items, np.int64).reshape(batch),
            "actions": np.ascontiguousarray(actions, np.int64).reshape(batch),
            "state": np.ascontiguousarray(states, np.float32).reshape(batch, self.state_size),
            "exclude": (
                np.zeros((batch, 1), np.int64)
                if exclude is None
                else np.ascontiguousarray(exclude, np.int64).reshape(batch, -1)
            ),
        }
        if self.previous:
            feeds[PREVIOUS_INPUT] = (
                np.zeros((batch, self.previous), np.int64)
                if previous is None
                else np.ascontiguousarray(previous, np.int64).reshape(batch, self.previous)
            )
        if self.rows:
            feeds["items"], feeds["exclude"], prev = clip_inputs(
                feeds["items"], feeds["exclude"], feeds.get(PREVIOUS_INPUT), self.rows
            )
            if prev is not None:
                feeds[PREVIOUS_INPUT] = prev
        per_call = self.per_call
        if per_call and batch > per_call:
            parts = [
                self.runner.run({name: v[at : at + per_call] for name, v in feeds.items()})
                for at in range(0, batch, per_call)
            ]
            out = [np.concatenate(outputs) for outputs in zip(*parts, strict=True)]
        else:
            out = self.runner.run(feeds)
        return StepResult(states=out[0], top_items=out[1], top_scores=out[2], buy_prob=out[3])

    def _check_signature(self) -> None:
        names_in = tuple(i.name for i in self.session.get_inputs())
        names_out = tuple(o.name for o in self.session.get_outputs())
        if names_in not in (STEP_INPUTS, BLEND_STEP_INPUTS) or names_out != STEP_OUTPUTS:
            raise SessionError(f"graph signature {names_in} -> {names_out} is not a step graph")
        if names_in == BLEND_STEP_INPUTS:
            width = self.session.get_inputs()[4].shape[1]
            if not isinstance(width, int) or width < 1:
                raise SessionError(f"the step graph's previous input has width {width!r}")
            self.previous = width
        state_dim = self.session.get_inputs()[2].shape[1]
        if state_dim != self.state_size:
            raise SessionError(
                f"graph state width {state_dim} != expected state_size {self.state_size}"
            )


class StepSession:
    """The bundle's step graph behind a numpy API: ``run(items, actions, states, exclude)``.

    ``graph`` is a graph role of the bundle (``"step"``, ``"step_int8"``...) or ``"index"``:
    the query graph with the bundle's item index (streamrec.export.indexed_step).
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        provider: Provider = "auto",
        graph: str = "step",
        threads: int | None = None,
        spin: bool = True,
        warmup: bool = True,
    ) -> None:
        self.bundle = bundle
        self.graph = graph
        self.step: StepRunner | IndexedStep
        if graph == INDEX_ROLE:
            from streamrec.export.indexed_step import open_indexed

            self.step = open_indexed(bundle, provider=provider, threads=threads, spin=spin)
        else:
            self.step = StepRunner(
                bundle.graph_bytes(graph),
                bundle.manifest.dims.state_size,
                provider=provider,
                threads=threads,
                spin=spin,
                assigned=bundle.vocab.size,
                k=bundle.manifest.k,
            )
        self.session = self.step.session
        self.provider = self.step.provider
        self._threads = threads
        self._encoder: GraphRunner | None = None
        if warmup:
            for batch in WARMUP_BATCHES:
                self.run(
                    np.full(batch, 1, np.int64),
                    np.full(batch, 1, np.int64),
                    self.initial_states(batch),
                )

    @classmethod
    def open(cls, path: str | Path, **kwargs: Any) -> StepSession:
        """Load and verify a bundle directory, then build its session."""
        return cls(load_bundle(path), **kwargs)

    @property
    def manifest(self) -> Manifest:
        """The bundle's manifest."""
        return self.bundle.manifest

    @property
    def vocab(self) -> Vocabulary:
        """The bundle's vocabulary (external id <-> row)."""
        return self.bundle.vocab

    @property
    def state_size(self) -> int:
        """Width of a user state."""
        return self.manifest.dims.state_size

    @property
    def k(self) -> int:
        """Number of items returned per user."""
        return self.manifest.k

    @property
    def previous(self) -> int:
        """Earlier items per user the step reads (0: a graph without transitions)."""
        return self.step.previous

    @property
    def scored_rows(self) -> int:
        """Rows each event is scored against (the rows in use when the graph was cut)."""
        rows = self.step.rows if isinstance(self.step, StepRunner) else 0
        return rows or self.vocab.capacity

    @property
    def version(self) -> str:
        """Model version of the bundle."""
        return self.manifest.model_version

    def initial_states(self, batch: int) -> np.ndarray:
        """Zero states for ``batch`` new users, ``(batch, state_size)`` float32."""
        return np.zeros((batch, self.state_size), np.float32)

    def run(
        self,
        items: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray,
        exclude: np.ndarray | None = None,
        previous: np.ndarray | None = None,
    ) -> StepResult:
        """Apply one event per user; ``exclude`` (B,E) rows are never returned (0 = none).

        ``previous`` the users' earlier items, latest first (read by blended graphs).
        """
        return self.step.run(items, actions, states, exclude, previous)

    def encode_histories(
        self, items: np.ndarray, actions: np.ndarray, states: np.ndarray | None = None
    ) -> np.ndarray:
        """States after ``(B, T)`` left-aligned histories (PAD after), in one call.

        Used to re-encode users on a new model; ``states`` defaults to zeros. Needs the
        bundle's ``encode`` graph (its session is created on first use, same provider).
        """
        if self._encoder is None:
            data = self.bundle.graph_bytes("encode")
            self._encoder = GraphRunner(
                create_session(data, provider=provider_of(self.provider), threads=self._threads),
                ENCODE_OUTPUTS,
            )
        items = np.ascontiguousarray(items, np.int64)
        batch = items.shape[0]
        feeds = {
            "items": items,
            "actions": np.ascontiguousarray(actions, np.int64).reshape(items.shape),
            "state": self.initial_states(batch)
            if states is None
            else np.ascontiguousarray(states, np.float32).reshape(batch, self.state_size),
        }
        return self._encoder.run(feeds)[0]
