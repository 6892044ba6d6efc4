"""The served step equals the training forward; masks; checkpoints round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from streamrec.models.data.actions import Action
from streamrec.models.data.vocab import Vocabulary
from streamrec.models.nets.checkpoint import (
    AttentionCheckpoint,
    Checkpoint,
    CheckpointError,
    load_any,
)
from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender, score_mask
from streamrec.models.nets.sasrec import SASRecConfig, SASRecRecommender


@pytest.mark.parametrize(
    ("cell", "tied", "skip"),
    [
        ("gru", True, False),
        ("gru", False, False),
        ("lstm", True, False),
        ("gru", True, True),
        ("lstm", False, True),
    ],
)
def test_step_t_times_equals_forward(cell: str, tied: bool, skip: bool) -> None:
    torch.manual_seed(0)
    cfg = RecurrentConfig(num_items=30, embed_dim=8, hidden_dim=12, cell=cell, tied=tied, skip=skip)  # type: ignore[arg-type]
    model = RecurrentRecommender(cfg).eval()
    if skip:
        torch.nn.init.normal_(model.skip.weight)  # type: ignore[union-attr]
    items = torch.randint(2, 30, (3, 7))
    actions = torch.randint(1, 5, (3, 7))
    with torch.no_grad():
        logits, buy_logit, final = model(items, actions)
        state = model.initial_state(3)
        for t in range(7):
            scores, buy_prob, state = model.step(items[:, t], actions[:, t], state)
            torch.testing.assert_close(scores, logits[:, t], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(buy_prob, torch.sigmoid(buy_logit[:, t]))
    torch.testing.assert_close(state, final, rtol=1e-5, atol=1e-5)
    assert state.shape == (3, model.config.state_size)


def test_score_mask_blocks_reserved_and_unassigned_rows() -> None:
    mask = score_mask(10, 6)
    assert torch.isinf(mask[:2]).all() and torch.isinf(mask[6:]).all()
    assert (mask[2:6] == 0).all()


def test_sasrec_is_causal() -> None:
    torch.manual_seed(0)
    model = SASRecRecommender(SASRecConfig(num_items=20, embed_dim=8, max_len=6)).eval()
    items = torch.randint(2, 20, (2, 6))
    actions = torch.full((2, 6), int(Action.CLICK))
    changed = items.clone()
    changed[:, 4:] = 3  # later positions must not change earlier outputs
    with torch.no_grad():
        a = model.hidden(items, actions)
        b = model.hidden(changed, actions)
    torch.testing.assert_close(a[:, :4], b[:, :4])


def test_checkpoints_round_trip(tmp_path: Path) -> None:
    vocab = Vocabulary.build(["a", "b", "c"])
    cfg = RecurrentConfig(num_items=vocab.capacity, embed_dim=4, hidden_dim=6)
    model = RecurrentRecommender(cfg)
    path = Checkpoint(cfg, model.state_dict(), vocab, {"test": {"HR@10": 0.5}}).save(
        tmp_path / "gru.pt"
    )
    loaded = load_any(path)
    assert isinstance(loaded, Checkpoint) and loaded.vocab.ids == ["a", "b", "c"]
    assert loaded.metrics["test"]["HR@10"] == 0.5
    scfg = SASRecConfig(num_items=vocab.capacity, embed_dim=4, num_heads=1)
    spath = AttentionCheckpoint(scfg, SASRecRecommender(scfg).state_dict(), vocab).save(
        tmp_path / "sas.pt"
    )
    assert isinstance(load_any(spath), AttentionCheckpoint)
    with pytest.raises(CheckpointError):
        Checkpoint.load(spath)
