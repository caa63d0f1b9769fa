"""Prometheus metrics of every request, served on GET /metrics, labelled with this release.

    http_requests_total{method, route, status, version}
    http_request_duration_seconds{route, version}   (a histogram)

`route` is the path template (/api/sessions/{id}), never the raw path, so a scan of random
URLs cannot blow up the number of series; a path no route matches is "unmatched". A plain ASGI
middleware (no BaseHTTPMiddleware): it adds two dictionary look-ups and a clock read per request.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
# The text format generate_latest writes (0.0.4), which every Prometheus version parses.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
# Buckets fit for an API answering in milliseconds, with room for a slow release.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Our own registry: importing the app twice (tests, reloads) must not register twice.
registry = CollectorRegistry()
requests_total = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status", "version"],
    registry=registry,
)
request_duration = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route", "version"],
    buckets=LATENCY_BUCKETS,
    registry=registry,
)


def exposition() -> Response:
    """What GET /metrics answers: every series, in Prometheus's text format."""
    return Response(generate_latest(registry), media_type=TEXT_FORMAT)


class RequestMetrics:
    """Counts and times every HTTP request except the scrapes of /metrics themselves."""

    def __init__(self, app: ASGIApp, version: str) -> None:
        self.app = app
        self.version = version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before any answer is a server error

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route = _route_template(scope)
            requests_total.labels(scope["method"], route, str(status), self.version).inc()
            request_duration.labels(route, self.version).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The template of the route that answered (the router writes it into the scope)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
