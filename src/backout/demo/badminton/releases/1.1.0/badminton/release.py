"""What this build is: its version, read by /health, /version and the build step.

1.1.0 also carries the rollout knobs of the session waitlist, read once at start.
"""

from __future__ import annotations

import os

VERSION = "1.1.0"


def _number_from_env(name: str, default: float, *, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    return min(max(value, low), high)


# Share of GET /api/sessions requests served by the new waitlist-aware query.
WAITLIST_ROLLOUT = _number_from_env("BADMINTON_FAULT_RATE", 0.30, low=0.0, high=1.0)
# Time the per-request waitlist refresh takes, in milliseconds.
WAITLIST_REFRESH_MS = _number_from_env("BADMINTON_EXTRA_LATENCY_MS", 40.0, low=0.0, high=60_000.0)
# Share of POST /api/bookings that first look at the session's waitlist (none by default).
BOOKING_WAITLIST_ROLLOUT = _number_from_env("BADMINTON_BOOKING_FAULT_RATE", 0.0, low=0.0, high=1.0)
