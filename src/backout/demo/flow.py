"""The demo app's business flow, as a `metrics: {type: flow}` section: sign in, give back a spot
an interrupted run may have left, book a court session, read the booking back, cancel it.
docs/metrics.md shows the same flow in YAML."""

from __future__ import annotations

from typing import Any

from backout.demo.repo import BOOKINGS_PATH, SESSIONS_PATH, SIGN_IN_PATH

FLOW_MEMBER = "dev@example.com"  # a seeded member, who has no booking of FLOW_SESSION
FLOW_SESSION = 2  # a seeded court session with spots left


def booking_flow(base_url: str, **settings: Any) -> dict[str, Any]:
    """The flow's settings for the app at `base_url`; `settings` adds or replaces keys
    (interval, window, timeout)."""
    bearer = {"Authorization": "Bearer ${token}"}
    steps = [
        {
            "name": "signin",
            "method": "POST",
            "path": SIGN_IN_PATH,
            "json": {"email": "${email}"},
            "extract": {"token": "token"},
        },
        {
            # A run cut off between book and cancel (a restart, a failed cancel) left its spot
            # taken: without this, every later booking would be refused and the flow fail.
            "name": "release",
            "method": "DELETE",
            "path": SESSIONS_PATH + "/${session}/booking",
            "headers": bearer,
            "expect": {"status": [200, 404]},
        },
        {
            "name": "book",
            "method": "POST",
            "path": BOOKINGS_PATH,
            "headers": bearer,
            "json": {"session_id": "${session}"},
            "expect": {"status": 201, "json": {"session_id": "${session}"}},
            "extract": {"booking": "id"},
        },
        {
            "name": "read",
            "path": BOOKINGS_PATH + "/${booking}",
            "headers": bearer,
            "expect": {"status": 200, "json": {"id": "${booking}"}},
        },
        {
            "name": "cancel",
            "method": "DELETE",
            "path": BOOKINGS_PATH + "/${booking}",
            "headers": bearer,
            "always": True,
        },
    ]
    return {
        "type": "flow",
        "base_url": base_url,
        "variables": {"email": FLOW_MEMBER, "session": FLOW_SESSION},
        "steps": steps,
        **settings,
    }
