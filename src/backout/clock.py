"""Time as a dependency, so the watch loop, rules and steps can be tested without waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC: what is recorded."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: what is measured."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def __init__(self) -> None:
        self._wakeup = threading.Event()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._wakeup.wait(seconds)


class ManualClock:
    """A clock that moves only when told to (or when slept on): for tests and rehearsals."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=max(seconds, 0))
        self._monotonic += max(seconds, 0)


def wait_until(condition: Callable[[], bool], timeout: float, *, interval: float = 0.02) -> bool:
    """Poll `condition` every `interval` seconds until it holds (True) or `timeout` seconds
    have passed (False); the condition is asked at least once."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
