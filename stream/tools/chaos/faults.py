"""The fault schedule of a chaos run: which fault comes when, drawn from the run's seed."""

from __future__ import annotations

import random
from enum import StrEnum


class Fault(StrEnum):
    """One thing done to the running system."""

    KILL = "kill"  # SIGKILL a random worker, restart it (sometimes on an empty directory)
    BOUNCE = "bounce"  # stop a random broker, wait, start it again
    ADD = "add"  # start one more worker
    REMOVE = "remove"  # SIGTERM a random worker for good


def plan(kills: int, bounces: int, rng: random.Random) -> list[Fault]:
    """Kills and bounces in random order, with one worker added and, later, one removed."""
    faults = [Fault.KILL] * kills + [Fault.BOUNCE] * bounces
    rng.shuffle(faults)
    add = rng.randint(0, len(faults) // 2)
    faults.insert(add, Fault.ADD)
    faults.insert(rng.randint(add + 1, len(faults)), Fault.REMOVE)
    return faults
