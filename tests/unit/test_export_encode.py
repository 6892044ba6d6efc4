"""The history encoder equals stepping events one by one, in torch and via the step graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamrec.export.encode_graph import random_histories, reference_encode
from streamrec.export.runtime import StepSession
from streamrec.models.data.vocab import PAD
from streamrec.models.nets.checkpoint import Checkpoint


def test_encode_matches_torch_and_the_step_loop(bundle_dir: Path, checkpoint: Checkpoint) -> None:
    session = StepSession.open(bundle_dir, provider="cpu", warmup=False)
    c = checkpoint.config
    rng = np.random.default_rng(5)
    items, actions = random_histories(rng, 9, 50, checkpoint.vocab.size, c.num_actions)
    items[1] = PAD  # a user with no history keeps its state
    actions[1] = 0
    start = rng.uniform(-1, 1, (9, c.state_size)).astype(np.float32)
    encoded = session.encode_histories(items, actions, start)
    np.testing.assert_allclose(
        encoded, reference_encode(checkpoint.build_model(), items, actions, start), atol=1e-4
    )
    np.testing.assert_array_equal(encoded[1], start[1])
    looped = start.copy()
    for t in range(items.shape[1]):
        active = items[:, t] != PAD
        if active.any():
            out = session.run(items[active, t], actions[active, t], looped[active])
            looped[active] = out.states
    np.testing.assert_allclose(encoded, looped, atol=1e-4)


def test_encode_defaults_to_zero_state(bundle_dir: Path) -> None:
    session = StepSession.open(bundle_dir, provider="cpu", warmup=False)
    items = np.array([[5, 6, 0], [7, 0, 0]])
    actions = np.array([[1, 4, 0], [2, 0, 0]])
    zero = session.initial_states(2)
    np.testing.assert_array_equal(
        session.encode_histories(items, actions), session.encode_histories(items, actions, zero)
    )
