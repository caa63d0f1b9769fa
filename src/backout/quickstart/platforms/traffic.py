"""Steady client traffic through HAProxy, as the app's users make it: a few clients asking
`/version` one request after another, each answer counted by the version that gave it, each
failure (no answer, or an error status) kept with when it happened.

`/version` is answered by every release alike, so a failure here is the switch's doing (a
refused connection, a request cut by a stopped process, HAProxy finding no server), not the
bad release's own bug, which backout's probe sees on `/api/sessions`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

CLIENTS = 4
KEPT_FAILURES = 50  # the first ones' reasons; beyond that failures are only counted


@dataclass(frozen=True)
class Window:
    """What the clients saw from `begin_window()` to `window()`."""

    requests: int
    failed: int
    served_by_version: dict[str, int]
    failures: list[str]  # the first failures' reasons


@dataclass
class Traffic:
    """Clients running until `stop()`; counts are read while they run."""

    url: str
    clients: int = CLIENTS
    version_of: Callable[[httpx.Response], str] = lambda r: str(r.json().get("version", "?"))
    served: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _window_start: tuple[Counter[str], int] = field(default_factory=lambda: (Counter(), 0))

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._client, name=f"traffic-{i}", daemon=True)
            for i in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def begin_window(self) -> None:
        """Count from now on: `window()` says what happened since."""
        with self._lock:
            self._window_start = (self.served.copy(), self.failed)
            self.failures.clear()

    def window(self) -> Window:
        with self._lock:
            served, failed = self._window_start
            answered = self.served - served
            return Window(
                requests=sum(answered.values()) + self.failed - failed,
                failed=self.failed - failed,
                served_by_version=dict(answered),
                failures=list(self.failures),
            )

    def requests(self) -> int:
        with self._lock:
            return sum(self.served.values()) + self.failed

    def _client(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                self._one(client)

    def _one(self, client: httpx.Client) -> None:
        try:
            response = client.get(self.url)
        except httpx.HTTPError as error:
            self._fail(f"{type(error).__name__}: {error}")
            return
        if response.status_code != 200:
            self._fail(f"HTTP {response.status_code}: {response.text[:80]}")
            return
        version = self.version_of(response)
        with self._lock:
            self.served[version] += 1

    def _fail(self, reason: str) -> None:
        with self._lock:
            self.failed += 1
            if len(self.failures) < KEPT_FAILURES:
                self.failures.append(reason)
