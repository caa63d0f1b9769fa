"""What the triggers judged, kept point by point for the charts around an incident.

Every reading of a service's triggers (the watch loop's, and the holds and monitoring of a run)
offers its snapshot here; at most one point per service every `POINT_EVERY_S` is written, with
every metric the snapshot measured. Points older than `KEPT_FOR` are deleted as new ones are
written (at most once a minute per service), so a watch that runs for months keeps a bounded
history: about 86,400 small rows per service.

Writing a point never fails nor stalls a reading: a store that cannot take it within
WRITE_WAIT_MS (another writer holds it) drops it, logged once, and the watch goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from backout.clock import Clock
from backout.errors import BackoutError
from backout.store import Store
from backout.store.tables import metric_points

log = logging.getLogger(__name__)
T = TypeVar("T")

POINT_EVERY_S = 1.0
KEPT_FOR = timedelta(hours=24)
PRUNE_EVERY_S = 60.0
# A point is not worth holding a reading (a rollback's hold) up: past this, it is dropped.
WRITE_WAIT_MS = 250
MAX_POINTS_READ = 20_000  # one read (a chart) returns at most this many, evenly thinned


@dataclass(frozen=True)
class MetricPoint:
    at: float  # seconds since the epoch
    values: dict[str, float]


class MetricHistory:
    """The history of one environment's services; shared by every reader of one runtime."""

    def __init__(self, store: Store, environment: str, clock: Clock) -> None:
        self._store = store
        self._environment = environment
        self._clock = clock
        self._lock = threading.Lock()
        self._last_point: dict[str, float] = {}
        self._last_prune: dict[str, float] = {}
        self._failing = False

    def note(self, service: str, values: Mapping[str, float | None]) -> None:
        """Offer one reading's values; written when the service's last point is old enough."""
        measured = {name: float(v) for name, v in values.items() if v is not None}
        if not measured:
            return
        now = self._clock.now().timestamp()
        with self._lock:
            if now - self._last_point.get(service, float("-inf")) < POINT_EVERY_S:
                return
            self._last_point[service] = now
            prune = now - self._last_prune.get(service, float("-inf")) >= PRUNE_EVERY_S
            if prune:
                self._last_prune[service] = now
        self._write(service, now, measured, prune=prune)

    def _write(self, service: str, at: float, values: dict[str, float], *, prune: bool) -> None:
        row = {"environment": self._environment, "service": service, "at": at}
        try:
            with self._store.brief_write(WRITE_WAIT_MS) as connection:
                connection.execute(insert(metric_points).values(**row, metric_values=values))
                if prune:
                    connection.execute(
                        delete(metric_points).where(
                            and_(
                                metric_points.c.environment == self._environment,
                                metric_points.c.service == service,
                                metric_points.c.at < at - KEPT_FOR.total_seconds(),
                            )
                        )
                    )
        except (SQLAlchemyError, BackoutError) as error:
            if not self._failing:
                log.warning("metric history: cannot write a point of %s: %s", service, error)
            self._failing = True
        else:
            self._failing = False


def points_between(
    store: Store, environment: str, service: str, start: float, end: float
) -> list[MetricPoint]:
    """The points of `service` from `start` to `end` (seconds since the epoch), oldest first;
    at most MAX_POINTS_READ, thinned evenly when there are more."""
    query = (
        select(metric_points.c.at, metric_points.c.metric_values)
        .where(
            metric_points.c.environment == environment,
            metric_points.c.service == service,
            metric_points.c.at >= start,
            metric_points.c.at <= end,
        )
        .order_by(metric_points.c.at)
    )
    with store.translating_errors(), store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [MetricPoint(at, dict(values)) for at, values in thinned(rows, MAX_POINTS_READ)]


def thinned(items: Sequence[T], most: int) -> list[T]:
    """At most `most` of `items`, evenly spaced, the first kept."""
    step = max(1, -(-len(items) // most))
    return list(items[::step])
