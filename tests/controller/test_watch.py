"""The watch loop's ladder: one sentence per service per cycle, and the action it took."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from backout import releases
from backout.clock import ManualClock
from backout.controller.watch import Watcher
from backout.incidents import open_incident
from backout.metrics import FakeMetricHub, FakeMetricSource, MetricsSnapshot
from backout.metrics.fake import HEALTHY
from backout.operations import views
from backout.operations.deploy import deploy, mark_release
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime

FAILING = HEALTHY.with_values(error_rate=0.12)


class BadReleaseMetrics(FakeMetricSource):
    """What a probe would see: errors while the bad release runs, health once it is gone."""

    def __init__(self, runtime: Runtime, bad_version: str) -> None:
        super().__init__()
        self.runtime, self.bad_version = runtime, bad_version

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        running = self.runtime.driver("api").current()
        return FAILING if running == self.bad_version else HEALTHY


def _config(tmp_path: Path, policy: str) -> Path:
    service = {
        "tier": "critical",
        "driver": {"type": "fake"},
        "router": {"type": "fake"},
        "triggers": [{"name": "error-rate", "metric": "error_rate", "above": 0.05, "for": "1s"}],
        "health": [{"type": "command", "command": "true"}],
        "policy": policy,
        "bake_time": "10s",
        "monitor": "2s",
        "traffic_hold": "0s",
    }
    data = {
        "project": "watch-test",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {"api": service, "cron": {**service, "triggers": []}},
    }
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class World:
    def __init__(self, tmp_path: Path, policy: str) -> None:
        self.clock = ManualClock(start=datetime.now(UTC))
        self.metrics = FakeMetricSource()
        self.runtime = Runtime.open(
            _config(tmp_path, policy),
            clock=self.clock,
            metrics=FakeMetricHub({"api": self.metrics}),
        )
        self.watcher = Watcher(self.runtime)

    def deploy(self, version: str) -> None:
        result = deploy(self.runtime, "api", version, ref=None, actor="test")
        assert result.state is RunState.SUCCEEDED, result.message

    def cycle(self) -> str:
        return self.watcher.run_cycle()[0]

    def status(self, version: str) -> str:
        with self.runtime.store.session() as session:
            return releases.find(session, "production", "api", version).status


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    policy = getattr(request, "param", "rollback")
    built = World(tmp_path, policy)
    yield built
    built.runtime.close()


def test_nothing_deployed_is_not_watched(world: World) -> None:
    assert world.watcher.run_cycle() == [
        "api: nothing deployed yet, not watching",
        "cron: nothing deployed yet, not watching",
    ]


def test_a_service_without_a_probe_says_its_triggers_are_unarmed(world: World) -> None:
    deploy(world.runtime, "cron", "2.0.0", ref=None, actor="test")
    assert world.watcher.run_cycle()[1] == "cron 2.0.0: no probe configured, triggers unarmed"


def test_a_live_release_that_bakes_with_no_trigger_is_marked_good_with_its_baseline(
    world: World,
) -> None:
    world.deploy("1.0.0")
    assert world.cycle() == (
        "api 1.0.0: healthy (errors 0.0%, p95 10ms, 100 requests), baking 0s of 10s (100 samples)"
    )
    for _ in range(9):  # the loop watches it, once a second
        world.clock.advance(1)
        world.cycle()
    assert world.status("1.0.0") == ReleaseStatus.LIVE
    world.clock.advance(1)
    assert world.cycle() == (
        "api 1.0.0: baked 10s with no trigger, marked good (baseline errors 0.0%, p95 10ms, 100 requests)"
    )
    with world.runtime.store.session() as session:
        good = releases.last_known_good(session, "production", "api")
        assert good is not None
        assert good.version == "1.0.0"
        assert good.baseline is not None
        assert good.baseline["latency_p95"] == 0.010


def test_a_breach_is_held_before_it_fires(world: World) -> None:
    world.deploy("1.0.0")
    world.metrics.current = FAILING
    assert world.cycle() == "api 1.0.0: error rate 12.0% > 5.0% for 0.0s of 1s, holding"


def test_a_firing_trigger_opens_an_incident_and_rolls_back_to_the_last_known_good(
    world: World,
) -> None:
    world.deploy("1.0.0")
    mark_release(world.runtime, "api", "1.0.0", ReleaseStatus.GOOD, actor="test", reason=None)
    world.deploy("1.1.0")
    world.runtime.metric_hub = FakeMetricHub({"api": BadReleaseMetrics(world.runtime, "1.1.0")})
    world.cycle()
    world.clock.advance(1)
    decision = world.cycle()
    assert (
        decision == "api 1.1.0: error rate 12.0% > 5.0% for 1.0s, rolling back (run 3, incident 1)"
    )
    [result] = world.watcher.wait_for_runs(timeout=30)
    assert result.state is RunState.SUCCEEDED, result.message
    assert world.runtime.driver("api").current() == "1.0.0"
    assert world.status("1.1.0") == ReleaseStatus.ROLLED_BACK
    incident = views.incident_detail(world.runtime, 1)
    assert incident["status"] == "resolved"
    assert incident["time_to_detect_s"] is not None
    assert incident["time_to_detect_s"] >= 0
    assert incident["time_to_recover_s"] is not None
    kinds = [event["kind"] for event in incident["timeline"]]
    assert kinds[:2] == ["detected", "run_planned"]
    assert kinds[-4:] == ["step_succeeded", "run_succeeded", "resolved", "status_changed"]
    assert "recovered" in kinds


@pytest.mark.parametrize("world", ["notify"], indirect=True)
def test_policy_notify_opens_the_incident_and_leaves_the_release_running(world: World) -> None:
    world.deploy("1.0.0")
    mark_release(world.runtime, "api", "1.0.0", ReleaseStatus.GOOD, actor="test", reason=None)
    world.deploy("1.1.0")
    world.metrics.current = FAILING
    world.cycle()
    world.clock.advance(1)
    assert world.cycle() == (
        "api 1.1.0: error rate 12.0% > 5.0% for 1.0s, incident 1 opened; policy is notify, not rolling back"
    )
    assert (
        world.cycle()
        == "api 1.1.0: error rate 12.0% > 5.0% for 1.0s, incident 1 is open; waiting for a person"
    )
    assert views.list_runs(world.runtime, service="api")[0]["kind"] == "deploy"
    assert world.runtime.driver("api").current() == "1.1.0"
    assert world.status("1.1.0") == ReleaseStatus.BAD


@pytest.mark.parametrize("world", ["notify"], indirect=True)
def test_a_release_failing_while_an_earlier_ones_incident_is_open_joins_it_once(
    world: World,
) -> None:
    world.deploy("1.0.0")
    mark_release(world.runtime, "api", "1.0.0", ReleaseStatus.GOOD, actor="test", reason=None)
    world.deploy("1.1.0")
    world.metrics.current = FAILING
    world.cycle()
    world.clock.advance(1)
    world.cycle()  # incident 1 opened for 1.1.0, left open by the people it notified
    world.metrics.current = HEALTHY
    world.deploy("1.2.0")
    world.metrics.current = FAILING
    world.cycle()
    world.clock.advance(1)

    joined = world.cycle()

    assert joined.endswith("incident 1 opened; policy is notify, not rolling back"), joined
    assert world.cycle().endswith("incident 1 is open; waiting for a person")
    detail = views.incident_detail(world.runtime, 1)
    kinds = [event["kind"] for event in detail["timeline"]]
    assert kinds.count("detected") == 2, "joined once, not at every cycle"


@pytest.mark.parametrize("world", ["approve"], indirect=True)
def test_policy_approve_starts_a_rollback_that_waits_at_its_gate(world: World) -> None:
    world.deploy("1.0.0")
    mark_release(world.runtime, "api", "1.0.0", ReleaseStatus.GOOD, actor="test", reason=None)
    world.deploy("1.1.0")
    world.metrics.current = FAILING
    world.cycle()
    world.clock.advance(1)
    assert world.cycle().endswith("rolling back after approval (run 3, incident 1)")
    [result] = world.watcher.wait_for_runs(timeout=30)
    assert result.state is RunState.AWAITING_APPROVAL
    assert world.cycle() == "api 1.1.0: run 3 is awaiting_approval, triggers wait for it"
    assert world.runtime.driver("api").current() == "1.1.0"


def test_with_nothing_good_to_go_back_to_the_incident_still_opens(world: World) -> None:
    world.deploy("1.1.0")
    world.metrics.current = FAILING
    world.cycle()
    world.clock.advance(1)
    assert world.cycle().endswith(
        "incident 1 opened, but no rollback: service 'api' has no release marked good to roll back to"
    )


def test_an_incident_whose_rollback_never_started_gets_its_rollback(world: World) -> None:
    world.deploy("1.0.0")
    mark_release(world.runtime, "api", "1.0.0", ReleaseStatus.GOOD, actor="test", reason=None)
    world.deploy("1.1.0")
    with world.runtime.store.session() as session:  # what a crash right after opening it leaves
        live = releases.live(session, "production", "api")
        assert live is not None
        open_incident(
            session,
            environment="production",
            service="api",
            title="api 1.1.0: errors",
            trigger="error-rate",
            release_id=live.id,
            rto_s=900,
            detected_at=world.clock.now(),
            impact_started_at=live.live_at,
            actor="backout-watch",
        )
    world.runtime.metric_hub = FakeMetricHub({"api": BadReleaseMetrics(world.runtime, "1.1.0")})
    world.cycle()
    world.clock.advance(1)
    assert world.cycle().endswith("rolling back (run 3, incident 1)")
    [result] = world.watcher.wait_for_runs(timeout=30)
    assert result.state is RunState.SUCCEEDED, result.message
