"""Ports for brokers and workers: below the ephemeral range, and free as a server binds them."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from streamrec.stream.tools import ports


def test_ports_lie_below_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    low = ports.ephemeral_low()
    seen: set[int] = set()
    for _ in range(40):
        base = ports.free_ports(ports.CLUSTER_OFFSETS)
        block = {base + o for o in ports.CLUSTER_OFFSETS}
        assert base >= ports.LOWEST and max(block) < low
        assert all(ports.can_bind(p) for p in block)
        assert not block & seen
        seen |= block
    assert ports.free_port() < low


def test_the_local_end_of_a_connection_is_not_free_though_nothing_answers_there() -> None:
    # The failure the old check let through: a controller told to listen on a port that
    # was, at that moment, the local end of a client connection.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
            local = int(client.getsockname()[1])
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", local)) != 0  # nothing listens there
            assert not ports.can_bind(local)


def test_a_taken_port_is_skipped() -> None:
    top = ports.ephemeral_low() - 1 - 1
    first = random.Random(7).randrange(ports.LOWEST, top)  # the block a seed-7 draw offers first
    with socket.socket() as s:  # someone else listens on first + 1
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", first + 1))
        s.listen()
        got = ports.free_ports((0, 1), rng=random.Random(7))
    assert got != first


def test_ephemeral_range_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    f = tmp_path / "range"
    f.write_text("40000\t60999\n")
    assert ports.ephemeral_low(f) == 40000
    assert ports.ephemeral_low(tmp_path / "missing") == 32768
    with pytest.raises(ValueError, match="non-negative"):
        ports.free_ports(())
