"""Cold-start rows: announced items -> a serving model that scores them (no retraining).

:class:`ItemRows` encodes an item's text (:mod:`streamrec.models.text.encoder`), maps it through the
learned projection of the serving bundle (``text_side.npz``, see
:meth:`streamrec.export.bundle.Bundle.text_side`) and writes the vector into a free row of the step
graph (:mod:`streamrec.export.item_rows`). The projection is looked up per model, so it follows hot
swaps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streamrec.models.data.catalog import ItemRecord
from streamrec.stream.config.settings import Settings
from streamrec.stream.serving.model import ServingModel

if TYPE_CHECKING:
    from streamrec.export.bundle import Bundle
    from streamrec.models.nets.text_side import TextSide

log = logging.getLogger(__name__)


class ItemRows:
    """Unseen items -> a serving model with their text-only rows (ONNX Runtime, no retraining).

    The projection is the serving bundle's (:meth:`streamrec.export.bundle.Bundle.text_side`);
    ``fallback`` (a ``text_side.npz`` in the encoder directory, the layout before projections
    were bundled) serves bundles that carry none.
    """

    def __init__(
        self, encoder: Any, bias_quantile: float = 0.5, fallback: TextSide | None = None
    ) -> None:
        self.encoder = (
            encoder  # streamrec.models.text.encoder.TextEncoder: .dim, .encode(texts) (n, T)
        )
        self.bias_quantile = bias_quantile
        self.fallback = fallback
        self._sides: dict[tuple[str, str], TextSide | None] = {}

    @classmethod
    def load(cls, settings: Settings) -> ItemRows | None:
        """The encoder of ``settings.item_text_dir``; None (items stored only) when unset."""
        if settings.item_text_dir is None:
            log.warning(
                "cold start off: STREAMREC_ITEM_TEXT_DIR is unset, so announced items are "
                "stored but get no row until a model trained on them serves"
            )
            return None
        from streamrec.export.bundle import TEXT_SIDE_FILE
        from streamrec.models.text.encoder import TextEncoder

        directory = Path(settings.item_text_dir)
        fallback = None
        if (directory / TEXT_SIDE_FILE).is_file():
            from streamrec.models.nets.text_side import TextSide

            fallback = TextSide.load(str(directory / TEXT_SIDE_FILE))
        encoder = TextEncoder(directory, threads=1)
        return cls(encoder, settings.new_item_bias_quantile, fallback)

    def side(self, model: ServingModel) -> TextSide | None:
        """The projection serving ``model``'s new items (resolved and logged once per bundle)."""
        bundle = model.scorer.bundle
        key = (str(bundle.path) if bundle is not None else "", model.version)
        if key not in self._sides:
            self._sides[key] = self._resolve(bundle, model.version)
        return self._sides[key]

    def _resolve(self, bundle: Bundle | None, version: str) -> TextSide | None:
        from streamrec.export.errors import ExportError

        side, source = None, "its bundle"
        if bundle is not None:
            try:
                side = bundle.text_side()
            except (ExportError, OSError) as exc:
                log.error("model %s: unusable text projection: %s", version, exc)
                return None
        if side is None and self.fallback is not None:
            side, source = self.fallback, "text_side.npz of STREAMREC_ITEM_TEXT_DIR (fallback)"
        if side is None:
            log.warning(
                "cold start: model %s carries no text projection, so announced items it does "
                "not know get no row (export a checkpoint trained with item text)",
                version,
            )
            return None
        embed = side.weight.shape[0] if bundle is None else bundle.manifest.dims.embed_dim
        if side.weight.shape != (embed, self.encoder.dim):
            log.error(
                "cold start: model %s: projection %s from %s does not map the encoder's %d-wide "
                "embeddings to %d-wide items; no rows added",
                version,
                side.weight.shape,
                source,
                self.encoder.dim,
                embed,
            )
            return None
        log.warning("cold start: model %s projects new items with %s", version, source)
        return side

    def add(self, model: ServingModel, records: Sequence[ItemRecord]) -> ServingModel | None:
        """A model that also scores the unseen ``records`` (None: all known, or no projection)."""
        from streamrec.export.item_rows import IndexedRowScorer, ItemRowScorer
        from streamrec.export.runtime import StepSession

        scorer = model.scorer
        fresh = {r.item_id: r for r in records if r.item_id not in scorer.vocab}
        if not fresh:
            return None
        side = self.side(model)
        if side is None:
            return None
        if isinstance(scorer, StepSession):
            scorer = ItemRowScorer.from_session(scorer, threads=1)
        if not isinstance(scorer, ItemRowScorer | IndexedRowScorer):
            raise TypeError(f"cannot add rows to a {type(scorer).__name__}")
        texts = self.encoder.encode([r.text() for r in fresh.values()])
        vectors = side.text_row(texts)  # (n, E)
        known = scorer.known_bias()
        bias = float(np.quantile(known, self.bias_quantile)) if len(known) else 0.0
        return ServingModel(scorer.with_items(list(fresh), vectors, bias), model.lineage)
