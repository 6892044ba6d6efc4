"""Session creation: the provider is chosen, logged and never silently swapped."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from streamrec.export import spec
from streamrec.export.errors import SessionError
from streamrec.export.runtime import StepSession
from streamrec.models.inference import CPU, create_session, gpu_present


@pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")
def test_cpu_only_machine_runs_on_cpu_and_says_so(
    bundle_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="streamrec.models.inference"):
        session = StepSession.open(bundle_dir)  # provider="auto"
    assert session.provider == CPU
    assert session.session.get_providers() == [CPU]
    assert any(CPU in r.message and "no GPU present" in r.message for r in caplog.records)


@pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")
def test_cuda_requested_without_gpu_raises(bundle_dir: Path) -> None:
    with pytest.raises(SessionError, match="CUDA"):
        create_session(bundle_dir / spec.STEP_FILE, provider="cuda")


def test_session_exposes_the_bundle(bundle_dir: Path) -> None:
    session = StepSession.open(bundle_dir, provider="cpu")
    assert (session.version, session.k, session.state_size) == ("v1", 10, 24)
    assert session.vocab.index("1") == 2 and session.manifest.parent_version == "v0"
    result = session.run([2, 3], [1, 1], session.initial_states(2))
    assert result.states.shape == (2, 24) and result.states.dtype == np.float32
    assert result.top_items.shape == (2, 10) and result.top_items.dtype == np.int64
    assert result.top_scores.shape == (2, 10) and result.buy_prob.shape == (2,)
    assert ((result.buy_prob > 0) & (result.buy_prob < 1)).all()
