"""Wait for a condition with a deadline (routers poll their load balancer)."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 0.05


def poll_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """True as soon as `condition()` holds; False when it still does not after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True
