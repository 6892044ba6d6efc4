"""The continuous load of a chaos run: valid events keyed by user id, poison mixed in.

A background thread sends at a steady rate until stopped. What was sent is not trusted
from here: the verifier reads the events topic back (a retried send may have landed twice,
a failed one may have landed anyway), so this only counts sends and send errors.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from streamrec.stream.config.kafka import split_bootstrap
from streamrec.stream.records.schemas import encode_event
from streamrec.stream.tools.chaos.bundle import item_ids
from streamrec.stream.tools.chaos.poison import POISON

log = logging.getLogger(__name__)

ACTIONS = ("click", "click", "click", "cart", "fav", "buy")


def user_ids(n: int) -> list[str]:
    """The user ids of the load."""
    return [f"u{k}" for k in range(n)]


@dataclass
class LoadCounts:
    """What the producer thread did (sends acknowledged or failed by the client)."""

    valid: int = 0
    poison: int = 0
    errors: int = 0


class Load:
    """A producer thread sending to ``topic`` at ``rate`` messages per second."""

    def __init__(
        self, bootstrap: str, topic: str, rate: float, users: int, poison_every: int, seed: int
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.rate = rate
        self.users = user_ids(users)
        self.items = item_ids()
        self.poison_every = poison_every
        self.rng = random.Random(seed)
        self.counts = LoadCounts()
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="chaos-load", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start sending."""
        self._thread.start()

    def stop(self) -> LoadCounts:
        """Stop, flush what is in flight and return the counts (re-raises a thread failure)."""
        self._stop.set()
        self._thread.join(120)
        if self._thread.is_alive():
            raise RuntimeError("the load producer did not stop in 120 s")
        if self.failure is not None:
            raise RuntimeError(f"the load producer failed: {self.failure!r}") from self.failure
        return self.counts

    def _message(self, n: int) -> tuple[bytes, bytes, bool]:
        user = self.rng.choice(self.users)
        if n % self.poison_every == self.poison_every - 1:
            return user.encode(), self.rng.choice(POISON).raw, True
        item, action = self.rng.choice(self.items), self.rng.choice(ACTIONS)
        event = encode_event(user, item, action, time.time(), event_id=f"chaos-{n}")
        return user.encode(), event, False

    def _done(self, poison: bool) -> Any:
        def ok(_: object) -> None:
            with self._lock:
                if poison:
                    self.counts.poison += 1
                else:
                    self.counts.valid += 1

        return ok

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self.counts.errors += 1
        log.warning("load: a send failed (the topic is read back, so it is still judged): %r", exc)

    def _main(self) -> None:
        from kafka import KafkaProducer

        try:
            producer = KafkaProducer(
                bootstrap_servers=split_bootstrap(self.bootstrap),
                acks="all",
                linger_ms=5,
                delivery_timeout_ms=120_000,
                request_timeout_ms=30_000,
                max_request_size=1_048_576,
            )
        except Exception as exc:  # any failure: reported by stop()
            self.failure = exc
            return
        t0, n = time.perf_counter(), 0
        try:
            while not self._stop.is_set():
                key, value, poison = self._message(n)
                future = producer.send(self.topic, key=key, value=value)
                future.add_callback(self._done(poison))
                future.add_errback(self._failed)
                n += 1
                ahead = n / self.rate - (time.perf_counter() - t0)
                if ahead > 0:
                    self._stop.wait(ahead)
            producer.flush(120)
        except Exception as exc:  # any failure: reported by stop()
            self.failure = exc
        finally:
            producer.close(30)
