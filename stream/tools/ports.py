"""Loopback ports for the processes the tools and tests start (brokers, workers' web views).

A port the kernel hands out for ``bind(0)`` lies in the ephemeral range, the same range every
outgoing connection takes its local port from. On a box that opens many client connections (a
test suite, a chaos run) such a port is soon the local end of somebody's connection, and the
broker or worker that was told to listen there fails with "Address already in use". So ports are
drawn below the ephemeral range, and a port counts as free only when it can be bound now (the way
a server binds it, with ``SO_REUSEADDR``), not merely when nothing answers a connect.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Sequence
from pathlib import Path

LOWEST = 10000
"""No port below this is handed out (below it live the well-known and registered services)."""

BROKER_OFFSETS = (0, 1000)
"""``kafka.sh start --port P``: the broker listens on P, its controller on P + 1000."""
SECURE_OFFSETS = (0, 1000, 2000)
"""``kafka.sh secure-start --port P``: clients on P, controller on P + 1000, the broker's own
plaintext listener on P + 2000."""
CLUSTER_OFFSETS = (0, 1, 2, 1000, 1001, 1002)
"""``kafka.sh cluster-start --port P``: brokers on P..P+2, controllers on P+1000..P+1002."""

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_FALLBACK_EPHEMERAL_LOW = 32768  # Linux's default when the range cannot be read
_handed_out: set[int] = set()
_lock = threading.Lock()


class NoFreePortError(RuntimeError):
    """Raised when no block of free ports is found below the ephemeral range."""


def ephemeral_low(range_file: Path = _RANGE_FILE) -> int:
    """The lowest port the kernel uses for the local end of outgoing connections."""
    try:
        return int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_EPHEMERAL_LOW


def can_bind(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind ``host:port`` now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(offsets: Sequence[int] = (0,), *, rng: random.Random | None = None) -> int:
    """A base port such that every ``base + offset`` is free and below the ephemeral range.

    Ports handed out earlier in this process are never handed out again, so two brokers or
    workers started one after another by the same process cannot be given the same port before
    the first has bound it.
    """
    if not offsets or min(offsets) < 0:
        raise ValueError(f"offsets must be non-negative and not empty, got {list(offsets)}")
    span = max(offsets)
    top = ephemeral_low() - span - 1
    if top <= LOWEST:
        raise NoFreePortError(f"the ephemeral range starts at {ephemeral_low()}: no room below it")
    draw = rng or random.Random()
    with _lock:
        for _ in range(2000):
            base = draw.randrange(LOWEST, top)
            ports = [base + o for o in offsets]
            if any(p in _handed_out for p in ports):
                continue
            if all(can_bind(p) for p in ports):
                _handed_out.update(ports)
                return base
    raise NoFreePortError(f"no free block for offsets {list(offsets)} in {LOWEST}..{top + span}")


def free_port() -> int:
    """One free loopback port below the ephemeral range."""
    return free_ports((0,))
