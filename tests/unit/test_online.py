"""Unit tier: replay window, vocabulary growth, warm-start fine-tuning and the gate (no broker)."""

from __future__ import annotations

import pytest
import torch

from streamrec.models.data.actions import Action
from streamrec.models.data.events import Event
from streamrec.models.data.synthetic import generate_events
from streamrec.models.data.vocab import Vocabulary
from streamrec.models.nets.checkpoint import Checkpoint
from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender
from streamrec.models.training.gate import GateConfig, decide, gate, prequential
from streamrec.models.training.online import FineTuneConfig, extend_vocabulary, fine_tune
from streamrec.stream.trainer.window import ReplayWindow, WindowLimits


def untrained(items: list[str], seed: int = 0) -> Checkpoint:
    torch.manual_seed(seed)
    vocab = Vocabulary.build(items)
    model = RecurrentRecommender(
        RecurrentConfig(num_items=vocab.capacity, embed_dim=16, hidden_dim=32, dropout=0.0)
    )
    return Checkpoint(model.config, model.state_dict(), vocab)


@pytest.fixture(scope="module")
def stream() -> list[Event]:
    return generate_events(n_users=60, n_items=80, n_events=2500, seed=3)


def test_window_evicts_by_count_and_age() -> None:
    w = ReplayWindow(WindowLimits(max_events=5, max_age_s=100.0))
    w.extend([Event("u", f"i{n}", Action.CLICK, float(n)) for n in range(8)])
    assert [e.item_id for e in w.events()] == ["i3", "i4", "i5", "i6", "i7"]
    w.add(Event("u", "late", Action.CLICK, 200.0))
    assert [e.item_id for e in w.events()] == ["late"]  # the rest is older than 100 s
    assert w.seen == 9
    w.extend([Event("u", f"j{n}", Action.CLICK, 200.0 + n) for n in range(3)])
    train, hold = w.split(0.25, min_holdout=2)
    assert [e.item_id for e in hold] == ["j1", "j2"] and len(train) == 2


def test_new_items_get_rows_initialised_from_their_context() -> None:
    base = untrained(["a", "b", "c"])
    events = [
        Event("u1", "a", Action.CLICK, 1.0),
        Event("u1", "new", Action.CLICK, 2.0),
        Event("u2", "b", Action.CLICK, 1.0),
        Event("u2", "new", Action.CLICK, 2.0),
        Event("u2", "lonely", Action.CLICK, 3.0),
    ]
    ext, added = extend_vocabulary(base, events)
    assert added == ["new", "lonely"] and base.vocab.size == 5  # the original is untouched
    emb = ext.state_dict["item_embedding.weight"]
    old = base.state_dict["item_embedding.weight"]
    row_a, row_b, row_new = (ext.vocab.index(i) for i in ("a", "b", "new"))
    assert torch.allclose(emb[row_new], (old[row_a] + old[row_b]) / 2)
    assert torch.equal(emb[: base.vocab.size], old[: base.vocab.size])  # rows never move
    assert torch.isfinite(emb[ext.vocab.index("lonely")]).all()


def test_fine_tune_beats_untrained_and_gate_promotes(stream: list[Event]) -> None:
    # Serving model knows only the items of the first half: the rest arrive as new items.
    first = sorted({e.item_id for e in stream[:1000]})
    serving = untrained(first)
    train, hold = stream[:2000], stream[2000:]
    result = fine_tune(serving, train, FineTuneConfig(epochs=3, lr=5e-3))
    assert result.new_items and result.losses[-1] < result.losses[0]
    cand = result.checkpoint
    assert cand.vocab.size > serving.vocab.size
    decision = gate(cand, serving, train, hold, GateConfig(k=10))
    assert decision.promoted, decision.reason
    assert decision.candidate["HR@10"] > decision.serving["HR@10"]
    assert decision.candidate["events"] > 300


def test_gate_refuses_nan_shape_and_worse(stream: list[Event]) -> None:
    items = sorted({e.item_id for e in stream})
    serving = fine_tune(untrained(items), stream[:1500], FineTuneConfig(epochs=3, lr=5e-3))
    good = serving.checkpoint
    ctx, hold = stream[:2000], stream[2000:]

    poisoned = Checkpoint(good.config, dict(good.state_dict), good.vocab)
    poisoned.state_dict["project.weight"] = good.state_dict["project.weight"].clone()
    poisoned.state_dict["project.weight"][0, 0] = float("nan")
    d = gate(poisoned, good, ctx, hold)
    assert not d.promoted and "non-finite values in project.weight" in d.reason

    other = untrained(items)
    wide = RecurrentRecommender(
        RecurrentConfig(num_items=other.vocab.capacity, embed_dim=16, hidden_dim=48)
    )
    d = gate(Checkpoint(wide.config, wide.state_dict(), other.vocab), good, ctx, hold)
    assert not d.promoted and "hidden_dim 48 != serving 32" in d.reason

    d = gate(untrained(items, seed=5), good, ctx, hold)  # random weights: far worse
    assert not d.promoted and d.reason.startswith("worse than serving")

    moved = Checkpoint(good.config, good.state_dict, Vocabulary(good.vocab.capacity, items[::-1]))
    d = gate(moved, good, ctx, hold)
    assert not d.promoted and "append-only" in d.reason


def test_decide_tolerance_and_minimum() -> None:
    cfg = GateConfig(k=10, tolerance=0.05, min_events=10)
    serv = {"HR@10": 0.20, "NDCG@10": 0.10, "buy_AUC": 0.7, "events": 100.0}
    assert decide({**serv, "HR@10": 0.191}, serv, cfg).promoted  # 4.5 % lower: within
    assert not decide({**serv, "HR@10": 0.18}, serv, cfg).promoted
    assert not decide({**serv, "buy_AUC": 0.6}, serv, cfg).promoted
    assert not decide({**serv, "events": 5.0}, serv, cfg).promoted
    no_buys = {**serv, "buy_AUC": float("nan")}
    assert decide(no_buys, no_buys, cfg).promoted


def test_prequential_counts_each_held_out_event_once(stream: list[Event]) -> None:
    ck = untrained(sorted({e.item_id for e in stream}))
    ctx, hold = stream[:2000], stream[2000:]
    m = prequential(ck, ctx, hold, k=10)
    users_in_hold = {e.user_id for e in hold}
    first_ever = sum(1 for u in users_in_hold if not any(e.user_id == u for e in ctx))
    assert m["events"] == len(hold) - first_ever
    assert 0.0 <= m["NDCG@10"] <= m["HR@10"] <= 1.0


def test_fine_tune_loss_stays_finite_when_the_vocabulary_is_full() -> None:
    base = untrained(["a", "b", "c"])
    free = base.vocab.capacity - base.vocab.size
    # More new items than free rows: the overflow stays UNK and must not be a training target.
    events = [Event(f"u{n % 7}", f"new{n}", Action.CLICK, float(n)) for n in range(free + 40)] + [
        Event(f"u{n % 7}", "abc"[n % 3], Action.CLICK, 1000.0 + n) for n in range(40)
    ]
    result = fine_tune(base, sorted(events, key=lambda e: e.ts), FineTuneConfig(epochs=1))
    assert result.checkpoint.vocab.size == base.vocab.capacity
    assert result.losses and all(torch.isfinite(torch.tensor(result.losses)))
    assert all(torch.isfinite(v).all() for v in result.checkpoint.state_dict.values())


def test_the_gate_and_fine_tuning_keep_and_refresh_a_models_transitions(
    stream: list[Event],
) -> None:
    """A model that carries transitions is judged as its step serves it, and fine-tuning
    counts the window's transitions into the table it hands on."""
    from dataclasses import replace

    from streamrec.models.nets.neighbours import Blend, NeighbourTable
    from streamrec.models.training.online import user_sequences

    base = untrained(sorted({e.item_id for e in stream}))
    ctx, hold = stream[:2000], stream[2000:]
    _, seqs = user_sequences(stream, base.vocab)  # the held-out transitions too: an oracle
    table = NeighbourTable.fit([rows for rows, _ in seqs], base.vocab.size, width=16)
    blended = replace(base, blend=Blend(table, 50.0))
    alone, served = prequential(base, ctx, hold), prequential(blended, ctx, hold)
    assert served["HR@10"] > alone["HR@10"] + 0.2, (served, alone)
    # Fine-tuning on events with a new item: its transitions enter the refreshed table.
    late = [
        Event(f"late{n}", item, Action.CLICK, 1e9 + n + step)
        for n in range(30)
        for step, item in enumerate(("i1", "brand-new"))
    ]
    tuned = fine_tune(blended, [*stream[:300], *late], FineTuneConfig(epochs=1))
    out = tuned.checkpoint
    assert out.blend is not None and out.blend.alpha == 50.0
    new_row, i1 = out.vocab.index("brand-new"), out.vocab.index("i1")
    assert out.blend.table.rows == out.vocab.size and out.blend.table.ids[i1, 0] == new_row
