"""Unit tier: the worker process is set up for its hot path once everything is loaded."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from streamrec.stream.config.settings import load_settings
from streamrec.stream.worker.serve import tune_interpreter


@pytest.fixture
def restore_interpreter() -> Iterator[None]:
    interval = sys.getswitchinterval()
    yield
    sys.setswitchinterval(interval)
    gc.unfreeze()


@pytest.mark.usefixtures("restore_interpreter")
def test_the_worker_takes_the_interpreter_lock_back_within_its_switch_interval() -> None:
    # Python's 5 ms left the step waiting for the lock after each model call.
    tune_interpreter(load_settings())
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    tune_interpreter(load_settings(gil_switch_ms=2.0))
    assert sys.getswitchinterval() == pytest.approx(0.002)


@pytest.mark.usefixtures("restore_interpreter")
def test_start_up_objects_leave_the_collectors_generations() -> None:
    tune_interpreter(load_settings())
    assert gc.get_freeze_count() > 0
