"""Several metric sources of one service read as one (a probe and Prometheus, a flow, data checks).

Each metric belongs to one source (`backout check` refuses a name two sources provide); a
snapshot keeps every source's own snapshot in `parts`, so a rule reads its metric with the
sample count and the problem of the source that measured it. The first source leads: its
samples and interval are what the watch loop's bake counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from backout.metrics.base import MetricCatalogue, MetricInfo, MetricSource, MetricsSnapshot


class CombinedSource:
    def __init__(self, sources: Sequence[MetricSource]) -> None:
        if not sources:
            raise ValueError("a combined source needs at least one source")
        self.sources = list(sources)
        first = self.sources[0].provides
        metrics: dict[str, MetricInfo] = {}
        for source in reversed(self.sources):  # the first source wins a name, as documented
            metrics.update(source.provides.metrics)
        self._catalogue = MetricCatalogue(metrics, first.sample_noun)

    @property
    def provides(self) -> MetricCatalogue:
        return self._catalogue

    @property
    def sample_interval(self) -> timedelta | None:
        return self.sources[0].sample_interval

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        parts = tuple(source.snapshot(since, version=version) for source in self.sources)
        return combine(parts, self._catalogue)

    def close(self) -> None:
        for source in self.sources:
            source.close()


def combine(parts: Sequence[MetricsSnapshot], catalogue: MetricCatalogue) -> MetricsSnapshot:
    """One snapshot of `parts`: every value, the first part's samples and window."""
    values: dict[str, float | None] = {}
    measured_by: dict[str, str] = {}
    for part in reversed(parts):
        values.update(part.values)
        measured_by.update(part.measured_by)
    lead = parts[0]
    return MetricsSnapshot(
        values,
        samples=lead.samples,
        window_s=lead.window_s,
        catalogue=catalogue,
        problem=lead.problem if all(p.problem for p in parts) else None,
        measured_by=measured_by,
        parts=tuple(parts),
    )
