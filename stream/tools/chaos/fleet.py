"""The worker processes of a chaos run: start, SIGKILL, restart, add, remove, probe.

Each worker is a ``streamrec worker`` subprocess configured only by ``STREAMREC_*``
variables, like a deployment. A slot keeps its state directory across restarts (local
store recovery) unless told to start on a fresh, empty one (full changelog restore); every
directory ever used is remembered for the final store comparison.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from streamrec.stream.tools.ports import free_port

log = logging.getLogger(__name__)


class FleetError(RuntimeError):
    """Raised when the workers do not become ready in time."""


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET a worker's endpoint: ``(status, body)``; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())
    except OSError:
        return 0, b""


def settled(status: int, body: bytes) -> bool:
    """Whether a ``/ready`` answer says ready and serving: the group's partitions are settled."""
    if status != 200:
        return False
    try:
        return bool(orjson.loads(body).get("serving"))
    except (orjson.JSONDecodeError, AttributeError):
        return False


@dataclass
class WorkerSlot:
    """One worker identity: its current process, HTTP port, state directory and log."""

    name: str
    root: Path
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    starts: int = 0
    dirs: list[Path] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        """All of this slot's runs append to one log."""
        return self.root / f"{self.name}.log"

    def alive(self) -> bool:
        """Whether the current process is running."""
        return self.proc is not None and self.proc.poll() is None


class Fleet:
    """The set of worker slots, sharing one app id and one environment."""

    def __init__(self, root: Path, repo: Path, env: Mapping[str, str]) -> None:
        self.root = root
        self.repo = repo
        self.env = dict(env)
        self.slots: list[WorkerSlot] = []
        self.retired: list[WorkerSlot] = []
        self._made = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def add(self) -> WorkerSlot:
        """A new slot on a new directory, started."""
        self._made += 1
        name = f"w{self._made}"
        slot = WorkerSlot(name, self.root, self.root / f"{name}-state-0")
        self.slots.append(slot)
        self.start(slot)
        return slot

    def start(self, slot: WorkerSlot, fresh_dir: bool = False) -> None:
        """Start ``slot``'s worker (on a new empty directory when ``fresh_dir``)."""
        if fresh_dir:
            slot.data_dir = self.root / f"{slot.name}-state-{slot.starts}"
        if slot.data_dir not in slot.dirs:
            slot.dirs.append(slot.data_dir)
        slot.port = free_port()
        slot.starts += 1
        env = {
            **self.env,
            "STREAMREC_DATA_DIR": str(slot.data_dir),
            "STREAMREC_WEB_PORT": str(slot.port),
        }
        with slot.log_path.open("ab") as fh:
            fh.write(f"\n=== chaos: start {slot.name} #{slot.starts} on {slot.data_dir}\n".encode())
            fh.flush()
            slot.proc = subprocess.Popen(
                [sys.executable, "-m", "streamrec.stream.cli", "worker"],
                cwd=self.repo,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )

    def kill(self, slot: WorkerSlot) -> None:
        """SIGKILL the slot's process and reap it."""
        if slot.proc is not None and slot.proc.poll() is None:
            slot.proc.send_signal(signal.SIGKILL)
            slot.proc.wait(30)

    def terminate(self, slot: WorkerSlot, timeout: float = 60.0) -> int | None:
        """SIGTERM (graceful stop); SIGKILL after ``timeout``. Returns the exit status."""
        proc = slot.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", slot.name, timeout)
                proc.kill()
                proc.wait(30)
        return proc.returncode

    def remove(self, slot: WorkerSlot) -> int | None:
        """Stop ``slot`` gracefully and retire it (its directories stay for the comparison)."""
        code = self.terminate(slot)
        self.slots.remove(slot)
        self.retired.append(slot)
        return code

    def stop_all(self) -> dict[str, int | None]:
        """Gracefully stop every live slot (all signalled at once); exit status per slot."""
        for slot in self.slots:
            if slot.alive() and slot.proc is not None:
                slot.proc.send_signal(signal.SIGTERM)
        return {slot.name: self.terminate(slot) for slot in self.slots}

    def kill_all(self) -> None:
        """Last-resort cleanup: SIGKILL every process still running."""
        for slot in [*self.slots, *self.retired]:
            self.kill(slot)

    # --- probes ------------------------------------------------------------------------------

    def exited(self) -> list[WorkerSlot]:
        """Slots whose process ended without the harness ending it."""
        return [s for s in self.slots if s.proc is not None and s.proc.poll() is not None]

    def ready(self) -> bool:
        """Every live slot is ready and serving (``/ready``: 200, no rebalance under way)."""
        return all(settled(*http_get(s.port, "/ready", 2.0)) for s in self.slots)

    def wait_ready(self, timeout: float) -> float:
        """Block until every slot is ready; seconds waited. Raises :class:`FleetError`."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            dead = self.exited()
            if dead:
                codes = ", ".join(f"{s.name}={s.proc.returncode if s.proc else None}" for s in dead)
                raise FleetError(f"worker exited while waiting to be ready: {codes}")
            if self.ready():
                return time.monotonic() - t0
            time.sleep(0.5)
        raise FleetError(f"workers not ready after {timeout:.0f} s (logs in {self.root})")

    def all_dirs(self) -> list[Path]:
        """Every state directory any slot used, in order of first use."""
        return [d for s in [*self.retired, *self.slots] for d in s.dirs]

    def logs(self) -> list[Path]:
        """Every slot's log file."""
        return [s.log_path for s in [*self.retired, *self.slots] if s.log_path.exists()]


def worker_env(base: Mapping[str, str], settings: Mapping[str, object]) -> dict[str, str]:
    """``base`` (the harness's own environment) plus ``STREAMREC_<NAME>`` for each setting."""
    env = {k: v for k, v in base.items() if not k.startswith("STREAMREC_")}
    env.update({f"STREAMREC_{k.upper()}": str(v) for k, v in settings.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def python_path_with(repo: Path, base: Mapping[str, str]) -> str:
    """``PYTHONPATH`` with ``repo`` first, so workers import this checkout's code."""
    rest = base.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (str(repo), rest) if p)
