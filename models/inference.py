"""ONNX Runtime sessions for any graph streamrec runs: provider choice, threads, I/O binding.

The step graph (:mod:`streamrec.export.runtime`) and the item-text encoder
(:mod:`streamrec.models.text.encoder`) both run through here; nothing here imports torch.
:func:`create_session` picks the provider and logs the choice; asking for CUDA where it cannot run
raises, and the automatic choice says so loudly when it lands on CPU although a GPU was seen.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)


class SessionError(RuntimeError):
    """An inference session cannot be created as asked (e.g. CUDA requested but not usable)."""


Provider = Literal["auto", "cpu", "cuda"]
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def gpu_present() -> bool:
    """True when ORT has its CUDA provider and the machine shows an NVIDIA device."""
    if CUDA not in ort.get_available_providers():
        return False
    return Path("/dev/nvidia0").exists() or any(Path("/proc/driver/nvidia/gpus").glob("*"))


def wants_cuda(provider: Provider) -> bool:
    """Whether a session asked for ``provider`` is meant to run on CUDA (auto: a GPU is here)."""
    return provider == "cuda" or (provider == "auto" and gpu_present())


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
    want_cuda = wants_cuda(provider)
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


def provider_of(active: str) -> Provider:
    """The :data:`Provider` that reopens a graph where an open session runs (``active``)."""
    return "cuda" if active == CUDA else "cpu"
