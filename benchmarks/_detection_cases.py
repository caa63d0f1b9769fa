"""The labelled set of the detection benchmark: releases of the demo app (its 1.1.0 code, shaped
by the app's rehearsal conditions and 1.1.0's own faults), each known healthy or bad.

Every case carries the same production noise: 1 % background errors, 0-20 ms latency jitter, and
the uneven user traffic of _detection_traffic.py. The healthy ones differ by their random draws
(each app process draws its own) and, for some, a short burst of errors that recovers; the bad
ones add one fault each, of the kinds the runbook's triggers name.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

from backout.demo import (
    BOOKING_FAULT_RATE_ENV,
    BROKEN_ROUTE_ENV,
    ERROR_BURST_ENV,
    ERROR_RATE_ENV,
    EXTRA_LATENCY_ENV,
    FAULT_RATE_ENV,
    LATENCY_JITTER_ENV,
    SLOWDOWN_ENV,
)

BACKGROUND_ERROR_RATE = 0.01
LATENCY_JITTER_MS = 20
# 8 s after the release starts (inside its 10 s bake), half a second of 25 % errors: a blip
# under the 5 % threshold over the 10 s windows the triggers read; a trigger reading 1 s
# windows would roll back here.
RECOVERING_BURST = "8,0.5,0.25"

NOISE = {
    ERROR_RATE_ENV: str(BACKGROUND_ERROR_RATE),
    LATENCY_JITTER_ENV: str(LATENCY_JITTER_MS),
    # 1.1.0's own knobs, off unless a case turns one on: its waitlist path is the fault below
    FAULT_RATE_ENV: "0",
    EXTRA_LATENCY_ENV: "0",
    BOOKING_FAULT_RATE_ENV: "0",
}


@dataclass(frozen=True)
class Case:
    name: str
    bad: bool
    kind: str  # what is wrong (or "healthy"), as the JSON reports it
    env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return NOISE | self.env


def _errors(rate: float) -> dict[str, str]:
    """`rate` of every API request failing, the background errors included."""
    return {ERROR_RATE_ENV: str(rate)}


def slowdown_for(slower_by: float, client_p50_s: float, server_mean_s: float) -> float:
    """The app's slowdown factor that makes a client wait `slower_by` longer (0.6: +60 %).

    The app can only slow its own handling (`server_mean_s`, as its /metrics measure it); what a
    client waits (`client_p50_s`, as the probe measures it) also holds the connection and the
    client's own time, which do not grow. +60 % as users see it is more than +60 % in the app.
    """
    return 1.0 + slower_by * max(client_p50_s, server_mean_s) / server_mean_s


def labelled_set(repeats: int = 2, latency_slowdown: float = 1.6) -> list[Case]:
    """`5 * repeats` healthy cases and `6 * repeats` bad ones, interleaved so that a slow drift
    of the machine (load, a warming disk) falls on both labels alike. `latency_slowdown` is the
    app's slowdown of the "latency +60 %" case (see slowdown_for)."""
    healthy = [
        Case("healthy-noise", False, "healthy"),
        Case("healthy-noise-again", False, "healthy"),
        Case(
            "healthy-burst",
            False,
            "healthy, a burst of errors that recovers",
            {ERROR_BURST_ENV: RECOVERING_BURST},
        ),
        Case("healthy-noise-third", False, "healthy"),
        Case(
            "healthy-burst-again",
            False,
            "healthy, a burst of errors that recovers",
            {ERROR_BURST_ENV: RECOVERING_BURST},
        ),
    ]
    bad = [
        Case("errors-8pct", True, "error rate 8%", _errors(0.08)),
        Case("errors-30pct", True, "error rate 30%", _errors(0.30)),
        Case(
            "sessions-endpoint-down",
            True,
            "100% of one endpoint (GET /api/sessions)",
            {FAULT_RATE_ENV: "1"},
        ),
        Case("latency-plus-60pct", True, "latency +60%", {SLOWDOWN_ENV: f"{latency_slowdown:.3f}"}),
        Case(
            "booking-flow-broken",
            True,
            "a broken business flow (POST /api/bookings)",
            {BOOKING_FAULT_RATE_ENV: "1"},
        ),
        Case(
            "booking-read-down",
            True,
            "100% of one endpoint (GET /api/bookings/{id})",
            {BROKEN_ROUTE_ENV: "GET /api/bookings/{booking_id}"},
        ),
    ]
    interleaved = [c for pair in itertools.zip_longest(healthy, bad) for c in pair if c]
    return [
        dataclasses.replace(case, name=case.name + ("" if round_ == 0 else f"-r{round_ + 1}"))
        for round_ in range(repeats)
        for case in interleaved
    ]
