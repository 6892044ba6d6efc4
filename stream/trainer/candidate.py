"""What the trainer checks a candidate's bundle with: real inputs for export, a last run.

:func:`real_inputs` gives export the replay window's next events, so the bundle is verified
(and a large catalog's item index gated) on real users rather than random states;
:func:`verify_bundle` loads the written bundle and runs one step before it is published.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from streamrec.models.data.events import Event
from streamrec.models.nets.checkpoint import Checkpoint

if TYPE_CHECKING:
    from pathlib import Path

    from streamrec.export.parity import StepInputs

REAL_INPUTS = 2000  # the window's next events that export verifies a candidate's bundle on


def real_inputs(checkpoint: Checkpoint, events: Iterable[Event]) -> StepInputs | None:
    """Next events of ``events``' users as step inputs (None: no user has two events).

    Without them a large catalog's item index would be gated on random states, which a
    trained model's index may fail, and the promoted model would score every row.
    """
    from streamrec.export.realdata import event_sequences, real_step_inputs

    sequences = event_sequences(events, checkpoint.vocab)
    if not sequences:
        return None
    previous = 0 if checkpoint.blend is None else checkpoint.blend.previous
    return real_step_inputs(checkpoint.build_model(), sequences, REAL_INPUTS, previous=previous)


def verify_bundle(path: Path) -> None:
    """Load the bundle (checksums), open its session and check a step gives finite outputs."""
    from streamrec.export.errors import VerificationError
    from streamrec.export.runtime import StepSession

    session = StepSession.open(path, provider="cpu", threads=1, spin=False, warmup=False)
    n = min(8, session.vocab.size)
    out = session.run(np.arange(n, dtype=np.int64), np.ones(n, np.int64), session.initial_states(n))
    if not (np.isfinite(out.states).all() and np.isfinite(out.buy_prob).all()):
        raise VerificationError("the exported step returns non-finite states or buy probability")
