"""Canonical user actions and the configurable mapping from raw action names to them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum


class Action(IntEnum):
    """Canonical actions; the value is the model's action index (0 is padding)."""

    PAD = 0
    CLICK = 1
    CART = 2
    FAV = 3
    BUY = 4


NUM_ACTIONS = len(Action)

# Raw names seen in real logs (Taobao uses pv/cart/fav/buy; RecSys'15 has click and buy files).
DEFAULT_ACTION_NAMES: Mapping[str, Action] = {
    "click": Action.CLICK,
    "view": Action.CLICK,
    "pv": Action.CLICK,
    "cart": Action.CART,
    "addtocart": Action.CART,
    "add_to_cart": Action.CART,
    "fav": Action.FAV,
    "favorite": Action.FAV,
    "like": Action.FAV,
    "buy": Action.BUY,
    "purchase": Action.BUY,
    "order": Action.BUY,
}


class UnknownActionError(ValueError):
    """Raised when an action name is not in the mapping."""


def parse_action(raw: object, names: Mapping[str, Action] = DEFAULT_ACTION_NAMES) -> Action:
    """Map a raw action name (case-insensitive) to its canonical action."""
    if not isinstance(raw, str):
        raise UnknownActionError(f"action must be a string, got {type(raw).__name__}")
    try:
        return names[raw.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(names))
        raise UnknownActionError(f"unknown action {raw!r} (known: {known})") from None
