"""What the sampling sources share (the probe's requests, a flow's runs, the data checks'
rounds): one sample taken every `interval` by a daemon thread, the samples of the last `keep`
kept for the snapshots to read.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from backout.metrics.window import window_start


class Timed(Protocol):
    @property
    def at(self) -> float: ...  # epoch seconds when the sample was taken


S = TypeVar("S", bound=Timed)


class Sampler(Generic[S]):
    """Calls `take` every `interval_s` from a daemon thread and keeps the last `keep_s` of
    samples. A slow sample does not make the next ones burst to catch up."""

    def __init__(
        self,
        name: str,
        take: Callable[[], S],
        *,
        interval_s: float,
        keep_s: float,
        join_timeout_s: float,
    ) -> None:
        self._name = name
        self._take = take
        self._interval_s = interval_s
        self._keep_s = keep_s
        self._join_timeout_s = join_timeout_s
        self._samples: deque[S] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self.started_at = time.time()
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop taking samples; one in flight ends within the join timeout (the thread is a
        daemon, so a slower one never holds up the process's exit)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_timeout_s)

    def window(self, now: float, window_s: float, since: float | None) -> tuple[float, list[S]]:
        """Where a snapshot's window starts (metrics/window.py) and the samples taken since."""
        start = window_start(now, window_s, since, self.started_at)
        with self._lock:
            return start, [s for s in self._samples if s.at >= start]

    def newest(self) -> S | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            taken = self._take()
            if not self._stop.is_set():  # taken while closing: nobody reads it any more
                self._record(taken)
            next_at += self._interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (slow samples): do not burst to catch up
                next_at = time.monotonic()
            self._stop.wait(max(delay, 0))

    def _record(self, sample: S) -> None:
        horizon = sample.at - self._keep_s
        with self._lock:
            self._samples.append(sample)
            while self._samples and self._samples[0].at < horizon:
                self._samples.popleft()
