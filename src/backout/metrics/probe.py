"""The built-in synthetic probe: steady requests to one URL, kept in a sliding window.

Registered as metric source `probe`; a service's `probe:` section is shorthand for
`metrics: {type: probe, ...}` with the same keys (ProbeSettings, in config.py for that reason).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from backout.config import ProbeSettings
from backout.metrics.base import MetricsSnapshot
from backout.metrics.http import HTTP_METRICS
from backout.metrics.window import window_start
from backout.registry import PluginContext

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

_MIN_SAMPLES_FOR_PERCENTILES = 5


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds when the request was sent
    ok: bool
    latency_s: float | None  # None when no answer came at all


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if len(sorted_values) < _MIN_SAMPLES_FOR_PERCENTILES:
        return None
    cuts = statistics.quantiles(sorted_values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def summarise(samples: list[Sample], window_s: float) -> MetricsSnapshot:
    """Rates and latency percentiles of `samples` over `window_s` seconds."""
    errors = sum(1 for s in samples if not s.ok)
    latencies = sorted(s.latency_s for s in samples if s.latency_s is not None)
    span = max(window_s, 1e-9)
    values = {
        "error_rate": errors / len(samples) if samples else 0.0,
        "latency_p50": _percentile(latencies, 0.50),
        "latency_p95": _percentile(latencies, 0.95),
        "latency_p99": _percentile(latencies, 0.99),
        "request_rate": len(samples) / span,
    }
    return MetricsSnapshot(values, samples=len(samples), window_s=window_s, catalogue=HTTP_METRICS)


class Probe:
    """Sends one request at a time, every `interval`, from a daemon thread."""

    provides = HTTP_METRICS

    def __init__(self, settings: ProbeSettings) -> None:
        self.settings = settings
        self._samples: deque[Sample] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None

    def start(self) -> None:
        if self._thread is None:
            self._started_at = time.time()
            self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)
            self._thread.start()

    @property
    def sample_interval(self) -> timedelta:
        return self.settings.interval

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout.total_seconds() + 1)

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        now = time.time()
        start = window_start(now, self.settings.window.total_seconds(), since, self._started_at)
        with self._lock:
            samples = [s for s in self._samples if s.at >= start]
        return summarise(samples, max(now - start, 0.0))

    def _loop(self) -> None:
        import httpx  # noqa: PLC0415 - here: every command builds a probe hub, few start a probe

        interval = self.settings.interval.total_seconds()
        timeout = self.settings.timeout.total_seconds()
        # A new connection per request: a probe must see a restarted server at once, not a
        # kept-alive socket to the process that was just stopped.
        with httpx.Client(
            timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0)
        ) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                self._record(self._request(client))
                next_at += interval
                delay = next_at - time.monotonic()
                if delay < 0:  # fell behind (slow answers): do not burst to catch up
                    next_at = time.monotonic()
                self._stop.wait(max(delay, 0))

    def _request(self, client: httpx.Client) -> Sample:
        import httpx  # noqa: PLC0415

        sent = time.time()
        started = time.perf_counter()
        try:
            response = client.request(self.settings.method, self.settings.url)
        except httpx.HTTPError:
            return Sample(sent, ok=False, latency_s=None)
        except Exception:  # the probe thread must never die silently: a dead probe looks healthy
            log.exception("probe of %s failed", self.settings.url)
            return Sample(sent, ok=False, latency_s=None)
        return Sample(sent, ok=response.status_code < 500, latency_s=time.perf_counter() - started)

    def _record(self, sample: Sample) -> None:
        horizon = sample.at - self.settings.window.total_seconds()
        with self._lock:
            self._samples.append(sample)
            while self._samples and self._samples[0].at < horizon:
                self._samples.popleft()


def build_probe(settings: ProbeSettings, context: PluginContext) -> Probe:
    """The registry's factory: a probe that sends nothing until started."""
    return Probe(settings)
