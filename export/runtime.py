"""Inference sessions for the step graph: CUDA with I/O binding on a GPU, tuned CPU otherwise.

Workers import this module, never torch. :func:`create_session` picks the provider, logs the
choice and warms the session up; asking for CUDA where it cannot run raises, and the automatic
choice says so loudly when it lands on CPU although a GPU was seen.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from streamrec.export.bundle import Bundle, Manifest, load_bundle
from streamrec.export.errors import SessionError
from streamrec.export.spec import ENCODE_OUTPUTS, STEP_INPUTS, STEP_OUTPUTS
from streamrec.models.data.vocab import Vocabulary

log = logging.getLogger(__name__)

Provider = Literal["auto", "cpu", "cuda"]
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
WARMUP_BATCHES = (1, 64)


def gpu_present() -> bool:
    """True when ORT has its CUDA provider and the machine shows an NVIDIA device."""
    if CUDA not in ort.get_available_providers():
        return False
    return Path("/dev/nvidia0").exists() or any(Path("/proc/driver/nvidia/gpus").glob("*"))


def cpu_threads() -> int:
    """Intra-op threads: the cores this process may run on (cgroup/affinity aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def session_options(threads: int | None = None, spin: bool = True) -> ort.SessionOptions:
    """Options for a latency-bound single-graph step: all optimizations, no inter-op pool."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or cpu_threads()
    opts.inter_op_num_threads = 1
    # Spinning threads cut latency but burn CPU the event loop may need; the caller decides.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    opts.log_severity_level = 3
    return opts


def create_session(
    model: str | Path | bytes,
    *,
    provider: Provider = "auto",
    threads: int | None = None,
    spin: bool = True,
    device_id: int = 0,
) -> ort.InferenceSession:
    """Build an ORT session on the best (or the requested) provider and log which one runs.

    ``provider="cuda"`` raises :class:`SessionError` if CUDA cannot run; ``"auto"`` uses CUDA
    when a GPU is present and logs a warning if it still ends up on CPU.
    """
    source = model if isinstance(model, bytes) else str(model)
    opts = session_options(threads, spin)
    want_cuda = provider == "cuda" or (provider == "auto" and gpu_present())
    if provider == "cuda" and CUDA not in ort.get_available_providers():
        raise SessionError("CUDA requested but this onnxruntime build has no CUDA provider")
    if want_cuda:
        providers: list[Any] = [(CUDA, {"device_id": device_id}), CPU]
        try:
            session = ort.InferenceSession(source, sess_options=opts, providers=providers)
        except Exception as exc:  # ORT raises its own (unexported) types for provider faults
            if provider == "cuda":
                raise SessionError(f"CUDA session failed: {exc}") from exc
            log.warning("CUDA present but its session failed (%s); running on CPU", exc)
            session = ort.InferenceSession(source, sess_options=opts, providers=[CPU])
        if session.get_providers()[0] != CUDA:
            if provider == "cuda":
                raise SessionError(f"CUDA requested but ORT chose {session.get_providers()}")
            log.warning("GPU seen but ORT runs this graph on %s", session.get_providers()[0])
    else:
        session = ort.InferenceSession(source, sess_options=opts, providers=[CPU])
    active = session.get_providers()[0]
    if active == CPU:
        reason = "requested" if provider == "cpu" else "no GPU present"
        log.info(
            "onnxruntime provider: %s (%s), intra-op threads %d",
            CPU,
            reason,
            opts.intra_op_num_threads,
        )
    else:
        log.info("onnxruntime provider: %s (device %d)", active, device_id)
    return session


class GraphRunner:
    """Runs a session on numpy feeds; on CUDA through I/O binding, outputs allocated on device."""

    def __init__(self, session: ort.InferenceSession, outputs: tuple[str, ...]) -> None:
        self.session = session
        self.outputs = list(outputs)
        cuda = session.get_providers()[0] == CUDA
        self._binding = session.io_binding() if cuda else None

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs in the order given at construction, as host numpy arrays."""
        if self._binding is None:
            result: list[np.ndarray] = self.session.run(self.outputs, feeds)
            return result
        binding = self._binding
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        for name in self.outputs:
            binding.bind_output(name, "cuda")
        binding.synchronize_inputs()
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        copied: list[np.ndarray] = binding.copy_outputs_to_cpu()
        return copied


@dataclass(frozen=True)
class StepResult:
    """One batch of step outputs, numpy on the host."""

    states: np.ndarray  # (B, S) float32
    top_items: np.ndarray  # (B, K) int64 rows; a score of -inf marks "no item"
    top_scores: np.ndarray  # (B, K) float32, descending
    buy_prob: np.ndarray  # (B,) float32


def provider_of(active: str) -> Provider:
    """The :data:`Provider` that reopens a graph where an open session runs (``active``)."""
    return "cuda" if active == CUDA else "cpu"


class StepRunner:
    """A step graph's ORT session and its numpy call: what every step scorer shares."""

    def __init__(
        self,
        graph: bytes,
        state_size: int,
        *,
        provider: Provider = "auto",
        threads: int | None = None,
        spin: bool = True,
    ) -> None:
        self.session = create_session(graph, provider=provider, threads=threads, spin=spin)
        self.provider = self.session.get_providers()[0]
        self.state_size = state_size
        self._check_signature()
        self.runner = GraphRunner(self.session, STEP_OUTPUTS)

    def run(
        self,
        items: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray,
        exclude: np.ndarray | None = None,
    ) -> StepResult:
        """Apply one event per user; ``exclude`` (B,E) rows are never returned (0 = none)."""
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
        out = self.runner.run(feeds)
        return StepResult(states=out[0], top_items=out[1], top_scores=out[2], buy_prob=out[3])

    def _check_signature(self) -> None:
        names_in = tuple(i.name for i in self.session.get_inputs())
        names_out = tuple(o.name for o in self.session.get_outputs())
        if names_in != STEP_INPUTS or names_out != STEP_OUTPUTS:
            raise SessionError(f"graph signature {names_in} -> {names_out} is not a step graph")
        state_dim = self.session.get_inputs()[2].shape[1]
        if state_dim != self.state_size:
            raise SessionError(
                f"graph state width {state_dim} != expected state_size {self.state_size}"
            )


class StepSession:
    """The bundle's step graph behind a numpy API: ``run(items, actions, states, exclude)``."""

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
        self.step = StepRunner(
            bundle.graph_bytes(graph),
            bundle.manifest.dims.state_size,
            provider=provider,
            threads=threads,
            spin=spin,
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
    ) -> StepResult:
        """Apply one event per user; ``exclude`` (B,E) rows are never returned (0 = none)."""
        return self.step.run(items, actions, states, exclude)

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
