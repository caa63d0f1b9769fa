"""The built-in synthetic probe: steady requests to one URL, kept in a sliding window.

Registered as metric source `probe`; a service's `probe:` section is shorthand for
`metrics: {type: probe, ...}` with the same keys (ProbeSettings, in config.py for that reason).
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from backout.config import ProbeSettings
from backout.metrics.base import MetricsSnapshot
from backout.metrics.http import HTTP_METRICS
from backout.metrics.sampling import Sampler
from backout.redact import redact
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
        self._client: httpx.Client | None = None
        self._sampler: Sampler[Sample] = Sampler(
            "probe",
            self._probe_once,
            interval_s=settings.interval.total_seconds(),
            keep_s=settings.window.total_seconds(),
            join_timeout_s=settings.timeout.total_seconds() + 1,
        )

    def start(self) -> None:
        self._sampler.start()

    @property
    def sample_interval(self) -> timedelta:
        return self.settings.interval

    def close(self) -> None:
        self._sampler.close()
        if self._client is not None:
            self._client.close()

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        now = time.time()
        start, samples = self._sampler.window(now, self.settings.window.total_seconds(), since)
        summary = summarise(samples, max(now - start, 0.0))
        # The evidence's `measured_by`, stored with the incident: a token in the URL is masked.
        request = redact(f"{self.settings.method} {self.settings.url}")
        return replace(summary, measured_by=dict.fromkeys(summary.values, request))

    def _probe_once(self) -> Sample:
        """One request, from the sampler's thread (which alone uses the client)."""
        if self._client is None:
            import httpx  # noqa: PLC0415 - here: every command builds a probe hub, few start one

            # A new connection per request: a probe must see a restarted server at once, not a
            # kept-alive socket to the process that was just stopped.
            self._client = httpx.Client(
                timeout=self.settings.timeout.total_seconds(),
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        return self._request(self._client)

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


def build_probe(settings: ProbeSettings, context: PluginContext) -> Probe:
    """The registry's factory: a probe that sends nothing until started."""
    return Probe(settings)
