"""The serving model's one owner: a slot the processor reads and every switch writes.

What changes the model a worker serves goes through :meth:`ModelSlot.swap`, on the event loop
between two batches: the hot swap (a promoted version) and cold start (the same version with rows
for announced items). The processor reads :attr:`ModelSlot.model` once per batch, so one model
scores a batch from start to end.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Gauge

from streamrec.stream.serving.model import ServingModel


class ModelSlot:
    """Holds the serving model; keeps the version gauge (one labelled series) in step."""

    def __init__(self, model: ServingModel, version_gauge: Gauge | None = None) -> None:
        self._model = model
        self._gauge = version_gauge
        if version_gauge is not None:
            version_gauge.labels(model.version).set(1)

    @property
    def model(self) -> ServingModel:
        """The model that scores the next batch."""
        return self._model

    def swap(self, new: ServingModel) -> ServingModel:
        """Serve ``new`` from the next batch on; returns the model it replaces."""
        old, self._model = self._model, new
        if self._gauge is not None and old.version != new.version:
            with contextlib.suppress(KeyError):
                self._gauge.remove(old.version)
            self._gauge.labels(new.version).set(1)
        return old
