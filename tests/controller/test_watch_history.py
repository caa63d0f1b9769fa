"""What the triggers judged is kept point by point (metric_history.py) and read back as an
incident's charts: the series around it, its trigger's threshold, and the moments it was
detected, rolled back, recovered and resolved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from backout.clock import ManualClock
from backout.errors import NotFoundError
from backout.metric_history import KEPT_FOR, MetricHistory, points_between
from backout.metrics import FakeMetricHub
from backout.operations.deploy import mark_release
from backout.operations.incident_charts import incident_charts
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.store import Store
from backout.store.tables import metric_points
from backout.web.dashboard.charts import chart_views
from tests.controller.test_watch import BadReleaseMetrics, World

START = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path, "rollback")
    yield built
    built.runtime.close()


@pytest.fixture
def history(tmp_path: Path) -> tuple[MetricHistory, Store, ManualClock]:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    clock = ManualClock(start=START)
    return MetricHistory(store, "production", clock), store, clock


def _rows(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(metric_points)).scalar())


def test_one_point_per_service_and_second_at_most(
    history: tuple[MetricHistory, Store, ManualClock],
) -> None:
    kept, store, clock = history
    for _ in range(10):  # ten readings in one second: one point
        kept.note("api", {"error_rate": 0.5, "latency_p95": None})
        clock.advance(0.1)
    kept.note("api", {"error_rate": 0.1})
    kept.note("cron", {"error_rate": 0.0})

    points = points_between(store, "production", "api", 0, START.timestamp() + 60)
    assert [p.values for p in points] == [{"error_rate": 0.5}, {"error_rate": 0.1}]
    assert _rows(store) == 3


def test_a_reading_that_measured_nothing_writes_nothing(
    history: tuple[MetricHistory, Store, ManualClock],
) -> None:
    kept, store, _ = history
    kept.note("api", {"error_rate": None, "latency_p95": None})
    assert _rows(store) == 0


def test_points_older_than_the_retention_are_deleted_as_new_ones_come(
    history: tuple[MetricHistory, Store, ManualClock],
) -> None:
    kept, store, clock = history
    kept.note("api", {"error_rate": 0.0})
    clock.advance(KEPT_FOR.total_seconds() - 120)
    kept.note("api", {"error_rate": 0.0})
    clock.advance(180)  # the first point is now older than the retention
    kept.note("api", {"error_rate": 0.2})

    points = points_between(store, "production", "api", 0, clock.now().timestamp())
    assert [p.values["error_rate"] for p in points] == [0.0, 0.2]


def test_a_store_that_cannot_take_a_point_does_not_stop_the_reading(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.engine.dispose()
    store.engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'state.db'}")
    MetricHistory(store, "production", ManualClock(start=START)).note("api", {"error_rate": 1.0})


def _roll_back_a_bad_release(world: World) -> None:
    """1.0.0 healthy for three readings, then 1.1.0 failing until the rollback: incident 1."""
    world.deploy("1.0.0")
    mark_release(world.runtime, "api", "1.0.0", ReleaseStatus.GOOD, actor="test", reason=None)
    for _ in range(3):  # healthy readings before the bad release
        world.cycle()
        world.clock.advance(1)
    world.deploy("1.1.0")
    world.runtime.metric_hub = FakeMetricHub({"api": BadReleaseMetrics(world.runtime, "1.1.0")})
    world.cycle()
    world.clock.advance(1)
    world.cycle()  # fires: rolls back, its hold and monitoring read the restored release
    [result] = world.watcher.wait_for_runs(timeout=30)
    assert result.state is RunState.SUCCEEDED, result.message


def test_an_incident_has_its_series_threshold_and_moments(world: World) -> None:
    _roll_back_a_bad_release(world)

    charts = incident_charts(world.runtime, 1)

    assert [m.label for m in charts.marks] == [
        "detected", "rollback started", "recovered", "resolved",
    ]  # fmt: skip
    assert charts.marks[0].at_s == 0.0
    error_rate = next(s for s in charts.series if s.metric == "error_rate")
    assert (error_rate.label, error_rate.unit, error_rate.thresholds) == (
        "error rate",
        "fraction",
        [0.05],
    )
    values = [v for _, v in error_rate.points]
    assert values[:3] == [0.0, 0.0, 0.0]  # before: healthy
    assert 0.12 in values  # the bad release, as the trigger saw it
    assert values[-1] == 0.0  # after the rollback: healthy again
    assert charts.start_s <= error_rate.points[0][0]
    assert charts.end_s >= charts.marks[-1].at_s


def test_the_chart_draws_the_series_the_threshold_and_the_moments(world: World) -> None:
    _roll_back_a_bad_release(world)

    [error_rate] = [
        v for v in chart_views(incident_charts(world.runtime, 1)) if v.metric == "error_rate"
    ]

    assert len(error_rate.polyline.split()) >= 5
    assert [t.text for t in error_rate.thresholds] == ["5%"]
    assert [m.label for m in error_rate.marks] == [
        "detected", "rollback started", "recovered", "resolved",
    ]  # fmt: skip
    assert "trigger at 5%" in error_rate.description
    assert error_rate.table[0][1] == "0.0%"


def test_an_unknown_incident_has_no_charts(world: World) -> None:
    with pytest.raises(NotFoundError):
        incident_charts(world.runtime, 99)


@pytest.mark.postgres
def test_points_are_written_and_read_on_postgresql_too(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        clock = ManualClock(start=START)
        kept = MetricHistory(store, "production", clock)
        kept.note("api", {"error_rate": 0.25})
        clock.advance(1)
        kept.note("api", {"error_rate": 0.0})

        points = points_between(store, "production", "api", 0, clock.now().timestamp())
    finally:
        store.close()

    assert [p.values["error_rate"] for p in points] == [0.25, 0.0]
