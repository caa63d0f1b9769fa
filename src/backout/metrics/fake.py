"""A metric source whose numbers the caller sets: for rehearsing triggers and for tests."""

from __future__ import annotations

from backout.metrics.base import MetricsSnapshot

HEALTHY = MetricsSnapshot(
    samples=100,
    window_s=10.0,
    request_rate=10.0,
    error_rate=0.0,
    latency_p50=0.005,
    latency_p95=0.010,
    latency_p99=0.020,
)


class FakeMetricSource:
    """Returns whatever snapshot was last set, whatever `since` asks."""

    def __init__(self, snapshot: MetricsSnapshot = HEALTHY) -> None:
        self.current = snapshot

    def snapshot(self, since: float | None = None) -> MetricsSnapshot:
        return self.current


class FakeMetricHub:
    """Hands out fake sources by service name; a service absent from it has no metrics."""

    def __init__(self, sources: dict[str, FakeMetricSource]) -> None:
        self.sources = sources

    def source(self, service: str) -> FakeMetricSource | None:
        return self.sources.get(service)

    def close(self) -> None:
        return None
