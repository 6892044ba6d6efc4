"""The worker's HTTP views: recommendations from state, health, readiness, metrics.

A user's recommendations are answered by the worker that owns the user's table partition;
Faust's table routing forwards the request there.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import faust
from faust.types import TableT
from faust.web import Request, Response, View

from streamrec.stream.serving.metrics import Metrics
from streamrec.stream.serving.outbox import Health
from streamrec.stream.serving.state import StateDecodeError, decode_state

if TYPE_CHECKING:
    from streamrec.stream.serving.processor import BatchProcessor

PROMETHEUS_TYPE = "text/plain; version=0.0.4"
READINESS_CHECK_S = 0.5  # how often the first completed recovery is looked for


def is_ready(app: faust.App) -> bool:
    """True when partitions are assigned and table recovery is done."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    return bool(not app.rebalancing and not recovery.in_recovery and recovery.completed.is_set())


class Readiness:
    """What ``/ready`` answers: ready from the end of this worker's first state recovery on.

    Later rebalances do not make it unready: every replica rebalances at once when one
    joins or leaves, so a probe that failed during rebalances would empty a load balancer of
    all replicas at each step of a rolling restart. A new worker is not ready until it has
    restored its state once, so a rollout waits for it before restarting the next one. A
    worker that lost a record (``/health`` failing) is not ready either.
    """

    def __init__(self, app: faust.App, health: Health) -> None:
        self.app = app
        self.health = health
        self.recovered_once = False

    def update(self) -> bool:
        """Note a completed recovery; whether the worker is ready now."""
        if not self.recovered_once and is_ready(self.app):
            self.recovered_once = True
        return self.recovered_once and self.health.ok


def bearer_matches(request: Request, token: str | None) -> bool:
    """Whether ``request`` carries ``Authorization: Bearer <token>`` (always, with no token)."""
    if token is None:
        return True
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


def register_views(
    app: faust.App,
    table: TableT[bytes, bytes],
    processor: BatchProcessor,
    metrics: Metrics,
    health: Health,
    token: str | None = None,
) -> None:
    """Add the views to ``app``'s web server; ``token``: what the user endpoint requires."""

    @app.page("/users/{user_id}/recommendations")
    class UserRecommendations(View):
        """GET a user's latest top-K, answered by the worker that owns the user's state."""

        async def get(self, request: Request, user_id: str) -> Response:
            # Checked here and again by the owner (forwarding keeps the header).
            if not bearer_matches(request, token):
                return self.json(
                    {"error": "missing or wrong bearer token"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await self.owned(request, user_id=user_id)  # type: ignore[call-arg]

        @app.table_route(table=table, match_info="user_id")  # type: ignore[arg-type]
        async def owned(self, request: Request, user_id: str) -> Response:
            raw = table.get(user_id.encode())
            if raw is None:
                return self.json({"user_id": user_id, "error": "unknown user"}, status=404)
            try:
                st = decode_state(raw)
            except StateDecodeError as exc:
                return self.json({"user_id": user_id, "error": str(exc)}, status=500)
            item_ids, scores = processor.slot.model.items(st.top_items, st.top_scores)
            body: dict[str, Any] = {
                "user_id": user_id,
                "items": [
                    {"item_id": i, "score": s} for i, s in zip(item_ids, scores, strict=True)
                ],
                "buy_probability": st.buy_prob,
                "model_version": st.model_version,
                "event_count": st.event_count,
                "last_event_ts": st.last_ts,
                "state_bytes": len(raw),
            }
            return self.json(body)

    @app.page("/health")
    class Health(View):
        """Liveness: the event loop answers and no record was lost (else 503 and why)."""

        async def get(self, request: Request) -> Response:
            if health.ok:
                return self.json({"status": "ok"})
            return self.json({"status": "failed", "error": health.fatal}, status=503)

    readiness = Readiness(app, health)
    app.timer(READINESS_CHECK_S, name="note-readiness")(_note(readiness))

    @app.page("/ready")
    class Ready(View):
        """Readiness (see :class:`Readiness`) and the rebalance state.

        ``serving``: no rebalance or recovery right now; ``rebalances``: how many this worker
        has gone through (Faust's count).
        """

        async def get(self, request: Request) -> Response:
            ready = readiness.update()
            body = {
                "ready": ready,
                "serving": is_ready(app),
                "rebalances": app.rebalancing_count,
                "model_version": processor.slot.model.version,
            }
            return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    class PrometheusMetrics(View):
        """Prometheus exposition."""

        async def get(self, request: Request) -> Response:
            return self.bytes(metrics.exposition(), content_type=PROMETHEUS_TYPE)


def _note(readiness: Readiness) -> Callable[[], Awaitable[None]]:
    async def note() -> None:
        readiness.update()

    return note
