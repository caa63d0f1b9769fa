"""Rehearsal conditions: the noise and faults of a real production day, switched on by
environment variables read once at start (all off by default). backout's detection benchmark
and drills use them to judge releases under realistic noise; only /api/ requests are touched.

    BADMINTON_ERROR_RATE=0.01          share of API requests answered 500 at random
    BADMINTON_LATENCY_JITTER_MS=20     each API request first waits 0..20 ms (uniform)
    BADMINTON_SLOWDOWN=1.6             each API request takes 1.6 times as long
    BADMINTON_ERROR_BURST=5,1,0.3      5 s after start, for 1 s, 30 % of API requests fail
    BADMINTON_BROKEN_ROUTE="GET /api/bookings/{booking_id}"   that route always answers 500

A request failed on purpose fails before its handler runs (a booking is not half made) and
carries its route, so the metrics of /metrics count it where a real fault would be counted.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
_share = random.Random()


@dataclass(frozen=True)
class Burst:
    after_s: float
    lasting_s: float
    error_rate: float

    def error_rate_at(self, since_start_s: float) -> float:
        inside = self.after_s <= since_start_s < self.after_s + self.lasting_s
        return self.error_rate if inside else 0.0


@dataclass(frozen=True)
class Conditions:
    error_rate: float = 0.0
    latency_jitter_s: float = 0.0
    slowdown: float = 1.0
    burst: Burst | None = None
    broken_route: tuple[str, str] | None = None  # (method, path template)

    def error_rate_at(self, since_start_s: float) -> float:
        """The chance a request fails at this moment: the background rate or the burst's."""
        burst = self.burst.error_rate_at(since_start_s) if self.burst else 0.0
        return max(self.error_rate, burst)


def _number(name: str, default: float, *, low: float, high: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}={raw!r} is outside {low:g}..{high:g}")
    return value


def _burst(name: str) -> Burst | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    parts = raw.split(",")
    try:
        after_s, lasting_s, rate = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected AFTER_S,FOR_S,ERROR_RATE (5,1,0.3)") from None
    if after_s < 0 or lasting_s <= 0 or not 0 <= rate <= 1:
        raise ValueError(f"{name}={raw!r}: seconds must be positive, the rate within 0..1")
    return Burst(after_s, lasting_s, rate)


def _route(name: str) -> tuple[str, str] | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    method, _, path = raw.partition(" ")
    if not path.startswith(API_PREFIX):
        raise ValueError(f"{name}={raw!r}: expected METHOD /api/PATH-TEMPLATE")
    return method.upper(), path.strip()


def from_environment() -> Conditions:
    return Conditions(
        error_rate=_number("BADMINTON_ERROR_RATE", 0.0, low=0.0, high=1.0),
        latency_jitter_s=_number("BADMINTON_LATENCY_JITTER_MS", 0.0, low=0.0, high=10_000) / 1e3,
        slowdown=_number("BADMINTON_SLOWDOWN", 1.0, low=1.0, high=100.0),
        burst=_burst("BADMINTON_ERROR_BURST"),
        broken_route=_route("BADMINTON_BROKEN_ROUTE"),
    )


CONDITIONS = from_environment()
STARTED = time.monotonic()


async def before_api_request(request: Request) -> None:
    """A dependency of every route: waits its jitter, then fails the request if its
    conditions say so (routing is done, so the failure is counted under its route)."""
    if not request.url.path.startswith(API_PREFIX):
        return
    if CONDITIONS.latency_jitter_s:
        await asyncio.sleep(_share.uniform(0.0, CONDITIONS.latency_jitter_s))
    route = getattr(request.scope.get("route"), "path", None)
    if CONDITIONS.broken_route == (request.method, route):
        raise HTTPException(status_code=500, detail="injected fault: this route is broken")
    if _share.random() < CONDITIONS.error_rate_at(time.monotonic() - STARTED):
        raise HTTPException(status_code=500, detail="injected fault")


class Slowdown:
    """Holds each API answer back until it took `slowdown` times as long as it did."""

    def __init__(self, app: ASGIApp, factor: float) -> None:
        self.app = app
        self.factor = factor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if self.factor <= 1.0 or not path.startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_late(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = time.perf_counter() - started
                await asyncio.sleep(took * (self.factor - 1.0))
            await send(message)

        await self.app(scope, receive, send_late)
