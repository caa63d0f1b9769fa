"""The charts of an incident: what its service's triggers judged around it (metric_history.py),
each metric's trigger thresholds, and the moments that matter — detected, rollback started,
recovered, resolved — as seconds from the detection."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backout.incidents import EventKind
from backout.metric_history import MetricPoint, points_between
from backout.metrics import MetricCatalogue
from backout.metrics.http import HTTP_METRICS
from backout.operations import incidents
from backout.runtime import Runtime
from backout.store import Incident

LEAD = timedelta(minutes=2)  # shown before the detection: what led to it
TAIL = timedelta(minutes=1)  # shown after the end: that it stayed recovered
LONGEST = timedelta(hours=6)  # an incident open longer is shown to its first six hours
CHARTED_FIRST = ("error_rate", "latency_p95")


@dataclass(frozen=True)
class Mark:
    label: str  # detected | rollback started | recovered | resolved
    at_s: float  # seconds from the detection


@dataclass(frozen=True)
class Series:
    metric: str
    label: str  # "error rate"
    unit: str  # fraction | seconds | per_second | count (metrics.Unit)
    points: list[tuple[float, float]]  # (seconds from the detection, value)
    thresholds: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class IncidentCharts:
    incident_id: int
    service: str
    detected_at: str
    start_s: float  # the window shown, in seconds from the detection
    end_s: float
    marks: list[Mark]
    series: list[Series]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def incident_charts(runtime: Runtime, incident_id: int) -> IncidentCharts:
    """Read-only; NotFoundError for an unknown incident. A service with no history in the
    window gives no series (the page says so)."""
    with runtime.store.session() as session:
        incident = incidents.find_incident(session, incident_id)
        marks = _marks(incident)
        thresholds = _thresholds(incident)
        detected = incident.detected_at
        ended = incident.resolved_at or incident.recovered_at or runtime.clock.now()
        service = incident.service
    start = detected - LEAD
    end = min(ended + TAIL, detected + LONGEST)
    points = points_between(
        runtime.store, runtime.environment, service, start.timestamp(), end.timestamp()
    )
    origin = detected.timestamp()
    # The window shown: what was recorded and every moment, within the lead and tail above.
    seen = [p.at - origin for p in points] + [m.at_s for m in marks]
    return IncidentCharts(
        incident_id=incident_id,
        service=service,
        detected_at=detected.isoformat(),
        start_s=max(-LEAD.total_seconds(), min(seen) - 1.0),
        end_s=min((end - detected).total_seconds(), max(seen) + 1.0),
        marks=marks,
        series=_series(runtime, service, points, origin, thresholds),
    )


def _marks(incident: Incident) -> list[Mark]:
    detected = incident.detected_at
    started = next((e.at for e in incident.events if e.kind == EventKind.RUN_PLANNED), None)
    moments = [
        ("detected", detected),
        ("rollback started", started),
        ("recovered", incident.recovered_at),
        ("resolved", incident.resolved_at),
    ]
    return [Mark(label, _seconds(at, detected)) for label, at in moments if at is not None]


def _thresholds(incident: Incident) -> dict[str, list[float]]:
    """Per metric, the thresholds its rules had when the incident was detected (the evidence
    kept on the timeline: an `above_baseline` rule's is the baseline times its factor)."""
    found: dict[str, list[float]] = {}
    for event in incident.events:
        if event.kind not in (EventKind.DETECTED, EventKind.TRIGGER_FIRED) or not event.evidence:
            continue
        for verdict in event.evidence:
            metric, threshold = verdict.get("metric"), verdict.get("threshold")
            if isinstance(metric, str) and isinstance(threshold, int | float):
                kept = found.setdefault(metric, [])
                if threshold not in kept:
                    kept.append(float(threshold))
    return found


def _series(
    runtime: Runtime,
    service: str,
    points: list[MetricPoint],
    origin: float,
    thresholds: dict[str, list[float]],
) -> list[Series]:
    if not points or service not in runtime.config.services:
        return []
    source = runtime.metrics(service)
    # A service whose source is gone from the config still reads as the probe's metrics would.
    catalogue = source.provides if source is not None else HTTP_METRICS
    measured = {name for point in points for name in point.values}
    rules = [rule.metric for rule in runtime.config.service(service).triggers]
    wanted = [m for m in dict.fromkeys([*rules, *CHARTED_FIRST]) if m in measured]
    return [
        Series(
            metric=metric,
            label=_known(catalogue, metric).label(metric),
            unit=_unit(_known(catalogue, metric), metric),
            points=[
                (round(p.at - origin, 3), p.values[metric]) for p in points if metric in p.values
            ],
            thresholds=thresholds.get(metric, []),
        )
        for metric in wanted
    ]


def _known(catalogue: MetricCatalogue, metric: str) -> MetricCatalogue:
    """The catalogue that knows `metric`: its source's, else the probe's (error_rate ...)."""
    return catalogue if metric in catalogue.metrics else HTTP_METRICS


def _unit(catalogue: MetricCatalogue, metric: str) -> str:
    info = catalogue.metrics.get(metric)
    return info.unit.value if info is not None else "count"


def _seconds(at: datetime, origin: datetime) -> float:
    return round((at - origin).total_seconds(), 3)
