"""backout's own metrics, in Prometheus's exposition format (`GET /metrics` on `backout serve`).

Two kinds:

- read from the store at scrape time (`StoreCollector`), so every process's runs and incidents
  count, whichever process scraped: `backout_runs{kind,state}` (how many runs are in each
  state now), `backout_time_to_detect_seconds` and `backout_time_to_recover_seconds`
  (histograms over every incident of the environment);
- counted by this process: `backout_trigger_readings_total{service,outcome}` — each reading of a
  service's triggers by the watch loop, `outcome` one of quiet, breached (a rule over its
  threshold, not yet held long enough), fired, inconclusive. The watch loop calls
  `count_reading()` once per reading.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from backout.runtime import Runtime
from backout.store.tables import incidents, runs

ReadingOutcome = Literal["quiet", "breached", "fired", "inconclusive"]
OUTCOMES: tuple[str, ...] = get_args(ReadingOutcome)

# Seconds: a probe detects in about one; an RTO is 15 minutes to an hour.
BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _ReadingCounts:
    """Counts of this process, by (service, outcome); safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, service: str, outcome: ReadingOutcome) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        with self._lock:
            self._counts[(service, outcome)] += 1

    def items(self) -> list[tuple[tuple[str, str], int]]:
        with self._lock:
            return sorted(self._counts.items())


_READINGS = _ReadingCounts()


def count_reading(service: str, outcome: ReadingOutcome) -> None:
    """One reading of `service`'s triggers, and what it came to (the watch loop calls it)."""
    _READINGS.add(service, outcome)


class ReadingsCollector(Collector):
    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(
            "backout_trigger_readings",
            "Readings of a service's triggers by this process's watch loop, by outcome.",
            labels=["service", "outcome"],
        )
        for (service, outcome), count in _READINGS.items():
            family.add_metric([service, outcome], count)
        yield family


class StoreCollector(Collector):
    """What the store says at scrape time: runs by kind and state, detection and recovery."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        env = self.runtime.environment
        by_state = (
            select(runs.c.kind, runs.c.state, func.count())
            .where(runs.c.environment == env)
            .group_by(runs.c.kind, runs.c.state)
        )
        moments = select(
            incidents.c.impact_started_at, incidents.c.detected_at, incidents.c.recovered_at
        ).where(incidents.c.environment == env)
        with self.runtime.store.connection() as connection:
            counts = connection.execute(by_state).all()
            rows = connection.execute(moments).all()
        gauge = GaugeMetricFamily(
            "backout_runs", "Runs in the state store, by kind and state.", labels=["kind", "state"]
        )
        for kind, state, count in counts:
            gauge.add_metric([kind, state], count)
        yield gauge
        detect = [(d - s).total_seconds() for s, d, _ in rows if s is not None]
        recover = [(r - d).total_seconds() for _, d, r in rows if r is not None]
        yield _histogram(
            "backout_time_to_detect_seconds",
            "From a bad release going live to its incident opening, per incident.",
            detect,
        )
        yield _histogram(
            "backout_time_to_recover_seconds",
            "From an incident opening to the service verified recovered, per incident.",
            recover,
        )


def _histogram(name: str, documentation: str, values: Sequence[float]) -> HistogramMetricFamily:
    cumulative = [(str(float(b)), float(sum(v <= b for v in values))) for b in BUCKETS]
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], [*cumulative, ("+Inf", float(len(values)))], sum_value=sum(values))
    return family


def registry_for(runtime: Runtime) -> CollectorRegistry:
    """A registry of backout's metrics over `runtime` (one per server; not the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(runtime))
    registry.register(ReadingsCollector())
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in the text format Prometheus scrapes."""
    return generate_latest(registry)
