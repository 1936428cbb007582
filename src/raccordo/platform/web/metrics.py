"""Prometheus metrics at /metrics: requests, WebSocket clients, bus lag, outbox depth, due timers."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import column, func, select, table
from starlette.types import ASGIApp, Receive, Scope, Send

from raccordo.platform.store.models import Job

# The channels' outbox, named here by its table: platform reads its depth, it imports no channel code.
_OUTBOX = table("outbox", column("status"))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "raccordo_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "raccordo_http_request_seconds", "HTTP request duration", ["method", "route"], registry=self.registry
        )

    def collector(self, app_state: Any) -> None:
        """Gauges read at scrape time from the hub and the database."""
        registry = self.registry

        class _Live:
            def collect(self) -> Any:
                hub = app_state.hub
                yield GaugeMetricFamily(
                    "raccordo_websocket_clients", "Connected WebSocket clients", value=hub.client_count
                )
                yield GaugeMetricFamily(
                    "raccordo_bus_lag_seconds",
                    "Age of the last event when it was dispatched to clients",
                    value=hub.lag_seconds,
                )
                yield GaugeMetricFamily(
                    "raccordo_bus_healthy",
                    "1 when the bus reaches the other nodes",
                    value=1.0 if hub.bus.healthy else 0.0,
                )
                now = datetime.now(UTC)
                try:
                    with hub.rt.sessions() as session:
                        depth = (
                            session.scalar(
                                select(func.count())
                                .select_from(_OUTBOX)
                                .where(_OUTBOX.c.status.in_(("pending", "sending")))
                            )
                            or 0
                        )
                        due = (
                            session.scalar(
                                select(func.count()).select_from(Job).where(Job.status == "pending", Job.due_at <= now)
                            )
                            or 0
                        )
                except Exception:  # noqa: BLE001 - the database is away: the gauges say "unknown", the scrape works
                    depth = due = float("nan")
                yield GaugeMetricFamily("raccordo_outbox_depth", "Outbound messages not yet sent", value=depth)
                yield GaugeMetricFamily("raccordo_due_timers", "Timers due and not yet run", value=due)

        registry.register(_Live())

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware counting requests by route template (not raw path, which would explode cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def tracking_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status["code"])).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)
