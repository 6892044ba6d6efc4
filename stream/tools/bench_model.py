"""``bench stream``'s model: an untrained GRU over the replay's items, or a trained checkpoint.

Either way the catalog can be grown to a size asked for with items no event names, so the
step scores (or the item index searches) a catalog of that size. A trained checkpoint's added
items are its own trained item vectors plus noise
(:func:`streamrec.models.nets.catalog_growth.grow_catalog`): a table with the structure a real
catalog's has, which an untrained model's Gaussian rows lack.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
