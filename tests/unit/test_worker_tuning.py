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
    thresholds = gc.get_threshold()
    yield
    sys.setswitchinterval(interval)
    gc.set_threshold(*thresholds)
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


@pytest.mark.usefixtures("restore_interpreter")
def test_the_youngest_generation_is_collected_every_20000_allocations() -> None:
    # Python's 700: some 150 collections a second while draining, 3-4 % of the worker's time.
    _, middle, oldest = gc.get_threshold()
    tune_interpreter(load_settings())
    assert gc.get_threshold() == (20_000, middle, oldest)
    tune_interpreter(load_settings(gc_young_threshold=5_000))
    assert gc.get_threshold()[0] == 5_000
