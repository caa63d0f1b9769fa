"""The one trigger-watching piece: a hold reads the service's source until a trigger fires or the
time is up, and `above_baseline` rules always compare with the last known good release's
recorded baseline — whichever version a step names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from backout import releases, triggers
from backout.clock import ManualClock
from backout.metrics import FakeMetricHub, FakeMetricSource
from backout.releases import ReleaseStatus
from backout.runtime import Runtime

SLOWER = {"name": "slower", "metric": "latency_p95", "above_baseline": 1.5, "for": "1s"}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    service = {"tier": "critical", "driver": {"type": "fake"}, "triggers": [SLOWER]}
    data = {
        "project": "triggers-test",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {"api": service, "cron": {**service, "triggers": []}},
    }
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(data))
    source = FakeMetricSource()
    source.set(latency_p95=0.070)
    built = Runtime.open(
        path, clock=ManualClock(datetime.now(UTC)), metrics=FakeMetricHub({"api": source})
    )
    yield built
    built.close()


def _release(runtime: Runtime, version: str, status: ReleaseStatus, p95: float | None) -> None:
    with runtime.store.session() as session:
        release = releases.record(
            session, runtime.environment, "api", version, ref=None, actor="test"
        )
        releases.mark(release, status)
        release.baseline = None if p95 is None else {"latency_p95": p95}


def test_a_hold_compares_with_the_last_known_good_releases_baseline(runtime: Runtime) -> None:
    _release(runtime, "1.0.0", ReleaseStatus.GOOD, p95=0.010)
    _release(runtime, "1.1.0", ReleaseStatus.GOOD, p95=0.040)  # the last known good
    _release(runtime, "1.2.0", ReleaseStatus.LIVE, p95=None)

    held = triggers.hold(runtime, ["api"], seconds=5)

    assert held.fired is not None
    assert held.fired.firing[0].sentence() == "p95 70ms > 60ms (1.5x baseline) for 1.0s"


def test_with_no_good_release_a_relative_rule_cannot_fire(runtime: Runtime) -> None:
    _release(runtime, "1.0.0", ReleaseStatus.LIVE, p95=0.010)

    held = triggers.hold(runtime, ["api"], seconds=2)

    assert held.fired is None
    [reading] = held.last
    assert reading.verdicts[0].sentence() == (
        "p95: no baseline measured for the last known good release"
    )
    assert held.summaries() == ["api: errors 0.0%, p95 70ms, 100 requests"]


def test_a_quiet_hold_lasts_its_time_and_says_what_it_saw(runtime: Runtime) -> None:
    _release(runtime, "1.0.0", ReleaseStatus.GOOD, p95=0.060)
    start = runtime.clock.monotonic()

    held = triggers.hold(runtime, ["api"], seconds=3)

    assert held.fired is None
    assert runtime.clock.monotonic() - start == pytest.approx(3, abs=triggers.POLL_S)
    assert held.watched == ["api"]
    assert held.idle == []


def test_a_service_without_a_metric_source_is_not_watched(runtime: Runtime) -> None:
    start = runtime.clock.monotonic()

    held = triggers.hold(runtime, ["cron", "gone"], seconds=4)

    assert (held.watched, held.fired, held.last) == ([], None, [])
    assert runtime.clock.monotonic() - start == 4, "with nothing watched, the hold only waits"


def test_the_baseline_is_read_when_the_triggers_are_armed(runtime: Runtime) -> None:
    _release(runtime, "1.0.0", ReleaseStatus.GOOD, p95=0.040)

    armed = triggers.arm(runtime, "api")

    assert armed is not None
    assert armed.baseline.values == {"latency_p95": 0.040}
    assert triggers.arm(runtime, "cron") is None
