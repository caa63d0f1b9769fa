"""The MetricSource interface: what the triggers read. Picked by a service's `metrics: {type:}`.

A source says which metrics it provides, each with a unit, and takes snapshots of them:

    provides         the MetricCatalogue: metric name -> unit (and how sentences name it).
                     Fixed for the source's life; `backout check` refuses a trigger whose
                     metric is not in it.
    sample_interval  how often the source takes a new sample at most, or None when it does
                     not sample on its own; the watch loop's bake allows a gap of a few of them.
    start()          begin measuring (the probe starts its thread). Idempotent, returns at once.
                     Building a source (the registry does, to validate a config) has no side
                     effects; only start() does.
    snapshot(since, version)
                     the values over the source's window, counting only what happened at or
                     after `since` (epoch seconds) when given; `version` is the live release's,
                     for a source that selects by it (a label in a query), None when unknown.
                     Read-only, safe to call from several threads, fast: no network
                     round-trip for the built-in probe, one query for a remote store. A value
                     is None when it could not be measured.
                     A source that cannot be read at all (unreachable, a query error, no data)
                     returns a snapshot with `problem` set and no samples: the triggers call
                     that inconclusive, which never rolls back by itself. snapshot() raises
                     nothing for a failed read.
    close()          stop measuring and let go of what start() took. Idempotent.

Units say how a value reads in a sentence ("error rate 12.0% > 5.0%", "p95 70ms"): fractions
are 0..1 (0.05 is 5 %), seconds are seconds, per_second is a rate, count is a plain number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from backout.categories import IncidentCategory


class Unit(StrEnum):
    FRACTION = "fraction"
    SECONDS = "seconds"
    PER_SECOND = "per_second"
    COUNT = "count"

    def show(self, value: float) -> str:
        """A measured value: '12.0%', '70ms', '3.5/s', '42'."""
        if self is Unit.FRACTION:
            return f"{value:.1%}"
        if self is Unit.SECONDS:
            return f"{value * 1000:.0f}ms" if value < 10 else f"{value:.1f}s"
        if self is Unit.PER_SECOND:
            return f"{value:.1f}/s"
        return f"{value:g}"

    def show_exact(self, value: float) -> str:
        """A configured threshold, as written: '5%', '250ms', '0.5/s', '100'."""
        if self is Unit.FRACTION:
            return f"{value * 100:g}%"
        if self is Unit.SECONDS:
            return f"{value * 1000:g}ms" if value < 10 else f"{value:g}s"
        if self is Unit.PER_SECOND:
            return f"{value:g}/s"
        return f"{value:g}"


@dataclass(frozen=True)
class MetricInfo:
    """One metric a source provides: its unit, the words a sentence names it by, the label it
    has in a snapshot's one-line summary (not in the summary when None), and what an incident
    its trigger opens is about (unless the rule says: `category:`)."""

    unit: Unit
    label: str
    summary_label: str | None = None
    category: IncidentCategory = IncidentCategory.ERRORS


@dataclass(frozen=True)
class MetricCatalogue:
    """The metrics a source provides, by name; `sample_noun` names what its samples are."""

    metrics: Mapping[str, MetricInfo]
    sample_noun: str = "samples"

    @classmethod
    def of_units(cls, units: Mapping[str, Unit]) -> MetricCatalogue:
        """Each metric named by its own name (`queue_depth` reads 'queue depth'), all summarised."""
        infos = {}
        for name, unit in units.items():
            words = name.replace("_", " ")
            infos[name] = MetricInfo(unit, words, words)
        return cls(infos)

    def names(self) -> list[str]:
        return sorted(self.metrics)

    def category(self, metric: str) -> IncidentCategory:
        info = self.metrics.get(metric)
        return info.category if info is not None else IncidentCategory.ERRORS

    def label(self, metric: str) -> str:
        info = self.metrics.get(metric)
        return info.label if info is not None else metric.replace("_", " ")

    def show(self, metric: str, value: float, *, exact: bool = False) -> str:
        info = self.metrics.get(metric)
        if info is None:  # a metric the source does not know: the number, as is
            return f"{value:g}"
        return info.unit.show_exact(value) if exact else info.unit.show(value)


@dataclass(frozen=True)
class MetricsSnapshot:
    """Named values over a window, with how many samples they come from.

    `problem` says why the source could not be read (then nothing was measured);
    `measured_by` says, per metric, how it was measured (a query, a request) for the evidence
    kept with a decision. A snapshot of several sources (metrics/combined.py) keeps each
    source's snapshot in `parts`: a metric's value, sample count and problem are its source's.
    """

    values: Mapping[str, float | None]
    samples: int
    window_s: float
    catalogue: MetricCatalogue = field(compare=False, repr=False)
    problem: str | None = None
    measured_by: Mapping[str, str] = field(default_factory=dict, compare=False)
    parts: tuple[MetricsSnapshot, ...] = field(default=(), compare=False, repr=False)

    def source_of(self, metric: str) -> MetricsSnapshot:
        """The snapshot of the source that provides `metric` (this one, for a single source)."""
        for part in self.parts:
            if metric in part.catalogue.metrics:
                return part
        return self

    def value(self, metric: str) -> float | None:
        """The metric, or None when nothing was measured (a 0% error rate of no requests is no
        evidence of health)."""
        source = self.source_of(metric)
        if source.samples == 0 or source.problem is not None:
            return None
        return source.values.get(metric)

    def samples_of(self, metric: str) -> int:
        return self.source_of(metric).samples

    def problem_of(self, metric: str) -> str | None:
        return self.source_of(metric).problem

    def with_values(self, **values: float | None) -> MetricsSnapshot:
        return replace(self, values={**self.values, **values})

    def summary(self) -> str:
        """'errors 0.0%, p95 10ms, 100 requests': the summarised metrics and the sample count."""
        if self.parts:
            return "; ".join(part.summary() for part in self.parts)
        if self.problem is not None:
            return f"cannot read the source: {self.problem}"
        parts = []
        for name, info in self.catalogue.metrics.items():
            if info.summary_label is None:
                continue
            value = self.values.get(name)
            shown = "n/a" if value is None else info.unit.show(value)
            parts.append(f"{info.summary_label} {shown}")
        parts.append(f"{self.samples} {self.catalogue.sample_noun}")
        return ", ".join(parts)


class MetricSource(Protocol):
    """See the module docstring for the contract of each member."""

    @property
    def provides(self) -> MetricCatalogue: ...

    @property
    def sample_interval(self) -> timedelta | None: ...

    def start(self) -> None: ...

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot: ...

    def close(self) -> None: ...


class MetricHub(Protocol):
    """The metric source of each service for this process, started on first use."""

    def source(self, service: str) -> MetricSource | None: ...

    def close(self) -> None: ...
