"""``bench stream``'s model and its own rates (the pure ONNX step and batch step, no Kafka).

The model is an untrained GRU over the replay's items, or a trained checkpoint.
Either way the catalog can be grown to a size asked for with items no event names, so the
step scores (or the item index searches) a catalog of that size. A trained checkpoint's added
items are its own trained item vectors plus noise
(:func:`streamrec.models.nets.catalog_growth.grow_catalog`): a table with the structure a real
catalog's has, which an untrained model's Gaussian rows lack.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import numpy as np

from streamrec.stream.config.settings import Settings

Rows = list[tuple[str, str, str, float]]


def build_bundle(
    rows: Rows,
    out: Path,
    transitions: bool = True,
    int8: bool = False,
    catalog: int = 0,
    checkpoint: Path | None = None,
) -> Path:
    """An untrained (seeded) GRU over the replay's items, scoring every row (no item index).

    With ``transitions`` (what ``streamrec train`` gives by default) the step also carries
    the replay's item-to-item transitions, as a served model does; with ``int8`` the bundle
    also gets the int8 step graph (``streamrec export --variants int8``), if its gate admits it.
    ``catalog`` > the replay's items adds items no event names until the vocabulary holds that
    many, so the step scores a catalog of that size. With ``checkpoint`` the bundle is that
    trained model instead (its own transitions), its catalog grown with items near its own
    and verified on the replay's real next events.
    """
    import numpy as np
    import torch

    from streamrec.export.onnx_export import export_checkpoint
    from streamrec.models.data.vocab import Vocabulary
    from streamrec.models.nets.checkpoint import Checkpoint
    from streamrec.models.nets.gru import RecurrentConfig, RecurrentRecommender
    from streamrec.models.nets.neighbours import Blend, NeighbourTable

    if checkpoint is not None:
        return _trained_bundle(rows, out, checkpoint, catalog, int8)
    torch.manual_seed(0)
    named = list(dict.fromkeys(r[1] for r in rows))
    extra = [f"catalog-{n}" for n in range(max(0, catalog - len(named)))]
    vocab = Vocabulary.build([*named, *extra])
    model = RecurrentRecommender(RecurrentConfig(num_items=vocab.capacity))
    ckpt = Checkpoint(model.config, model.state_dict(), vocab)
    if transitions:
        per_user: dict[str, list[int]] = {}
        for user, item, _, _ in rows:
            per_user.setdefault(user, []).append(vocab.index(item))
        seqs = [np.asarray(v, np.int64) for v in per_user.values()]
        ckpt.blend = Blend(NeighbourTable.fit(seqs, vocab.size), 16.0)
    # No item index: an untrained model's Gaussian rows say nothing about how an index serves
    # a trained table (pass --checkpoint for that); this bundle scores every row.
    export_checkpoint(ckpt, out, k=10, variants=("int8",) if int8 else (), index=False)
    return out


def _trained_bundle(rows: Rows, out: Path, checkpoint: Path, catalog: int, int8: bool) -> Path:
    from streamrec.export.onnx_export import export_checkpoint
    from streamrec.export.realdata import real_step_inputs
    from streamrec.models.nets.catalog_growth import grow_catalog
    from streamrec.models.nets.checkpoint import Checkpoint

    ckpt = grow_catalog(Checkpoint.load(checkpoint), catalog)
    per_user: dict[str, list[int]] = {}
    for user, item, _, _ in rows:
        per_user.setdefault(user, []).append(ckpt.vocab.index(item))
    seqs = [np.asarray(v, np.int64) for v in per_user.values() if len(v) >= 2]
    previous = 0 if ckpt.blend is None else ckpt.blend.previous
    real = real_step_inputs(ckpt.build_model(), seqs, 2000, previous=previous) if seqs else None
    export_checkpoint(ckpt, out, k=10, real=real, variants=("int8",) if int8 else ())
    return out


def pure_step_rate(bundle: Path, rows: Rows, settings: Settings) -> dict[str, Any]:
    """Events/s of the raw ONNX call and of the pure batch step, one thread.

    The step is the one the worker serves under the same settings (STREAMREC_SCORING,
    STREAMREC_TOPK): a step graph, or the query graph with the bundle's item index; the
    garbage collector runs as in the worker (``gc_young_threshold``).
    """
    young, middle, oldest = gc.get_threshold()
    gc.set_threshold(settings.gc_young_threshold, middle, oldest)
    try:
        return _pure_step_rate(bundle, rows, settings)
    finally:
        gc.set_threshold(young, middle, oldest)


def _pure_step_rate(bundle: Path, rows: Rows, settings: Settings) -> dict[str, Any]:
    from streamrec.export.bundle import load_bundle
    from streamrec.export.runtime import StepSession
    from streamrec.models.data.actions import parse_action
    from streamrec.models.data.vocab import RESERVED
    from streamrec.stream.records.schemas import Source, StreamEvent
    from streamrec.stream.serving.model import ServingModel
    from streamrec.stream.serving.step import StepConfig, step_batch
    from streamrec.stream.worker.serve import scoring_graph, topk_source

    batch = settings.batch_max
    loaded = load_bundle(bundle)
    graph = topk_source(settings, loaded.manifest, on_gpu=False) or scoring_graph(
        settings, loaded.manifest.graphs, on_gpu=False
    )
    session = StepSession(loaded, provider="cpu", graph=graph, threads=1, spin=False)
    model = ServingModel(session)
    events = [
        StreamEvent(u, i, parse_action(a), ts, Source("bench", 0, n))
        for n, (u, i, a, ts) in enumerate(rows[: batch * 20])
    ]
    items = np.array([session.vocab.index(e.item_id) for e in events[:batch]], np.int64)
    actions = np.ones(batch, np.int64)
    states = np.zeros((batch, session.state_size), np.float32)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 3.0:
        session.run(items, actions, states, np.zeros((batch, 1), np.int64))
        n += batch
    onnx_rate = n / (time.perf_counter() - t0)
    cfg = StepConfig()
    t0, n, k = time.perf_counter(), 0, 0
    while time.perf_counter() - t0 < 3.0:
        chunk = events[(k % 20) * batch : (k % 20 + 1) * batch]
        step_batch({}, chunk, model, cfg, time.time())
        n += len(chunk)
        k += 1
    return {
        "onnx_step_eps": onnx_rate,
        "pure_step_eps": n / (time.perf_counter() - t0),
        "catalog_rows": session.vocab.capacity,
        "scored_rows": session.scored_rows,
        "catalog_items": session.vocab.size - RESERVED,
        "graph": graph,
        "index": None if loaded.manifest.index is None else loaded.manifest.index.model_dump(),
        "transitions": session.previous > 0,
        "state_size": session.state_size,
        "k": session.k,
    }
