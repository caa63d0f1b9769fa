"""A metric source whose values the caller sets: for rehearsing triggers, tests and benchmarks.

Registered as metric source `fake`. By default it provides the probe's metrics (so it stands in
for a probe) with healthy values; `provides:` names other metrics with their units, `values:`
sets them, `samples:` says how many samples they are from (0: nothing measured).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import Field, model_validator

from backout.durations import Duration
from backout.metrics.base import MetricCatalogue, MetricsSnapshot, Unit
from backout.metrics.http import HTTP_METRICS
from backout.registry import PluginContext, PluginSettings

HEALTHY = MetricsSnapshot(
    {
        "error_rate": 0.0,
        "latency_p50": 0.005,
        "latency_p95": 0.010,
        "latency_p99": 0.020,
        "request_rate": 10.0,
    },
    samples=100,
    window_s=10.0,
    catalogue=HTTP_METRICS,
)


class FakeMetricSettings(PluginSettings):
    provides: dict[str, Unit] | None = Field(
        None,
        description="Metric name -> unit (fraction, seconds, per_second, count); default: the "
        "probe's metrics (error_rate, latency_p50/p95/p99, request_rate).",
    )
    values: dict[str, float] = Field(
        default_factory=dict,
        description="The values every snapshot shows; default: a healthy probe's, for its metrics.",
    )
    samples: int = Field(100, ge=0, description="How many samples the values come from.")
    window: Duration = Field(timedelta(seconds=10), description="The window the values cover.")

    @model_validator(mode="after")
    def _values_are_provided(self) -> Self:
        provided = self.catalogue().metrics
        unknown = sorted(set(self.values) - set(provided))
        if unknown:
            names = ", ".join(sorted(provided))
            raise ValueError(f"values for {', '.join(unknown)}, not provided (provides: {names})")
        return self

    def catalogue(self) -> MetricCatalogue:
        return HTTP_METRICS if self.provides is None else MetricCatalogue.of_units(self.provides)

    def snapshot(self) -> MetricsSnapshot:
        catalogue = self.catalogue()
        defaults = HEALTHY.values if self.provides is None else {}
        values = {name: self.values.get(name, defaults.get(name)) for name in catalogue.metrics}
        return MetricsSnapshot(values, self.samples, self.window.total_seconds(), catalogue)


class FakeMetricSource:
    """Returns whatever snapshot was last set, whatever `since` asks."""

    sample_interval: timedelta | None = None

    def __init__(self, snapshot: MetricsSnapshot = HEALTHY) -> None:
        self.current = snapshot
        self.started = False

    @property
    def provides(self) -> MetricCatalogue:
        return self.current.catalogue

    def set(self, *, samples: int | None = None, **values: float | None) -> None:
        """Change some values (and the sample count) of what every later snapshot shows."""
        unknown = sorted(set(values) - set(self.provides.metrics))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not provided by this fake source")
        current = self.current.with_values(**values)
        if samples is not None:
            current = MetricsSnapshot(current.values, samples, current.window_s, current.catalogue)
        self.current = current

    def start(self) -> None:
        self.started = True

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        return self.current

    def close(self) -> None:
        self.started = False


def build_fake(settings: FakeMetricSettings, context: PluginContext) -> FakeMetricSource:
    return FakeMetricSource(settings.snapshot())


class FakeMetricHub:
    """Hands out fake sources by service name; a service absent from it has no metrics."""

    def __init__(self, sources: dict[str, FakeMetricSource]) -> None:
        self.sources = sources

    def source(self, service: str) -> FakeMetricSource | None:
        return self.sources.get(service)

    def close(self) -> None:
        return None
