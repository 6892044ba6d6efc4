"""The trainer's HTTP endpoints: ``/metrics``, ``/health`` and ``/ready``, on a daemon thread.

The trainer's loop is synchronous and a round blocks it for minutes, so the endpoints are served
by a small threaded server beside it; they read only what the loop publishes (metrics, a status
snapshot), never the loop's Kafka clients.

- ``/health``: 200 while the loop has gone round within ``stale_after_s`` (a round counts as
  going round when it ends), 503 after: the process is stuck and should be restarted.
- ``/ready``: 200 once the trainer has opened its topics and read the models topic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamrec.stream.trainer.metrics import TrainerMetrics, TrainerStatus

log = logging.getLogger(__name__)


class TrainerWeb:
    """The server and its thread; ``close()`` stops both."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: TrainerMetrics,
        status: TrainerStatus,
        stale_after_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics, self.status, self.stale_after_s, self.clock = (
            metrics,
            status,
            stale_after_s,
            clock,
        )
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="trainer-web", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the kernel's choice for 0)."""
        return int(self.server.server_address[1])

    def start(self) -> TrainerWeb:
        """Serve on the thread."""
        self._thread.start()
        log.info("trainer HTTP on port %d (/metrics, /health, /ready)", self.port)
        return self

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def health(self) -> tuple[int, dict[str, Any]]:
        """(status code, body) of ``/health``."""
        seen = self.status.loop_seen
        age = self.clock() - seen if seen else None
        stalled = age is not None and age > self.stale_after_s
        body = {
            "status": "stalled" if stalled else "ok",
            "active": self.status.active,
            "serving": self.status.serving,
            "rounds": self.status.rounds,
            "loop_age_s": None if age is None else round(age, 1),
        }
        return (503 if stalled else 200), body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        web = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(web.metrics.registry), CONTENT_TYPE_LATEST)
                elif self.path == "/health":
                    code, body = web.health()
                    self._send(code, orjson.dumps(body), "application/json")
                elif self.path == "/ready":
                    ready = web.status.ready
                    self._send(200 if ready else 503, orjson.dumps({"ready": ready}))
                else:
                    self._send(404, orjson.dumps({"error": f"no such path: {self.path}"}))

            def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("trainer HTTP: " + format, *args)

        return Handler
