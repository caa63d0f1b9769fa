"""The MetricSource interface: what the triggers read.

    snapshot(since)  the metrics over the source's window, counting only what happened at or
                     after `since` (epoch seconds) when given. Read-only, fast (no network
                     round-trip for the built-in probe, one query for Prometheus).

Rates are fractions (0.05 is 5 %), latencies are seconds, request_rate is per second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MetricsSnapshot:
    samples: int
    window_s: float
    request_rate: float
    error_rate: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None

    def value(self, metric: str) -> float | None:
        """The metric, or None when nothing was measured (a 0% error rate of no requests is no
        evidence of health)."""
        if self.samples == 0:
            return None
        value: float | None = getattr(self, metric)
        return value

    def summary(self) -> str:
        p95 = "n/a" if self.latency_p95 is None else f"{self.latency_p95 * 1000:.0f}ms"
        return f"errors {self.error_rate:.1%}, p95 {p95}, {self.samples} requests"


class MetricSource(Protocol):
    def snapshot(self, since: float | None = None) -> MetricsSnapshot: ...


class MetricHub(Protocol):
    """The metric source of each service for this process (the probes, or a fake)."""

    def source(self, service: str) -> MetricSource | None: ...

    def close(self) -> None: ...
