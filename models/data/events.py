"""The event record shared by loaders, training, the generator and the stream worker."""

from __future__ import annotations

from dataclasses import dataclass

from streamrec.models.data.actions import Action


@dataclass(frozen=True, slots=True)
class Event:
    """One user interaction. ``ts`` is Unix time in seconds (float)."""

    user_id: str
    item_id: str
    action: Action
    ts: float
    session_id: str | None = None
