"""Policy flag_first: a firing trigger opens the incident, then the watch loop turns the
service's guarded_by flags off and holds them off with the triggers armed. Quiet: the incident
is recovered and no redeploy happens. Still firing: the rollback follows, in the same incident.

The flags live in the builtin provider on the SQLite store, the service on the fake driver, and
the probe is a fake metric source that answers as the service would: errors while the bad
release runs with the flag on (or, for a fault the flag does not guard, whatever the flag).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from backout import releases
from backout.actions import flag_changes
from backout.clock import ManualClock
from backout.controller.watch import Watcher
from backout.metrics import FakeMetricHub, FakeMetricSource, MetricsSnapshot
from backout.metrics.fake import HEALTHY
from backout.operations import flags as flag_ops
from backout.operations import views
from backout.operations.deploy import deploy, mark_release
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime

FAILING = HEALTHY.with_values(error_rate=0.12)
FIRED = "api 1.1.0: error rate 12.0% > 5.0% for 1.0s"


class ServiceMetrics(FakeMetricSource):
    """Errors while 1.1.0 runs, unless the flag guards the fault and is off."""

    def __init__(self, runtime: Runtime, *, fault_behind_flag: bool) -> None:
        super().__init__()
        self.runtime, self.fault_behind_flag = runtime, fault_behind_flag

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        if self.runtime.driver("api").current() != "1.1.0":
            return HEALTHY
        if self.fault_behind_flag and not self.runtime.flags().flag("waitlist").enabled:
            return HEALTHY
        return FAILING


def _config(tmp_path: Path) -> Path:
    api = {
        "tier": "critical",
        "driver": {"type": "fake"},
        "router": {"type": "fake"},
        "triggers": [{"name": "error-rate", "metric": "error_rate", "above": 0.05, "for": "1s"}],
        "health": [{"type": "command", "command": "true"}],
        "policy": "flag_first",
        "guarded_by": ["waitlist"],
        "bake_time": "10s",
        "monitor": "2s",
        "traffic_hold": "0s",
    }
    data = {
        "project": "flag-first-test",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {"api": api},
        "flags": {"definitions": {"waitlist": {"description": "the waitlist"}}},
    }
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class World:
    """api: 1.0.0 good, then 1.1.0 live; waitlist on for everyone."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.clock = ManualClock(start=datetime.now(UTC))
        self.runtime = Runtime.open(_config(tmp_path), clock=self.clock, metrics=FakeMetricHub({}))
        self.watcher = Watcher(self.runtime)
        for version in ("1.0.0", "1.1.0"):
            done = deploy(self.runtime, "api", version, ref=None, actor="test")
            assert done.state is RunState.SUCCEEDED, done.message
            if version == "1.0.0":
                mark_release(
                    self.runtime, "api", "1.0.0", ReleaseStatus.GOOD, actor="test", reason=None
                )

    def fault(self, *, behind_flag: bool) -> None:
        source = ServiceMetrics(self.runtime, fault_behind_flag=behind_flag)
        self.runtime.metric_hub = FakeMetricHub({"api": source})

    def fire(self) -> str:
        """Two cycles a second apart: the breach is seen, then has held for the rule's 1s."""
        self.watcher.run_cycle()
        self.clock.advance(1)
        return self.watcher.run_cycle()[0]

    def deploys(self) -> int:
        """How many deploys the fake platform has done."""
        state = json.loads((self.tmp_path / ".backout/drivers/api/fake.json").read_text())
        count: int = state["deploys"]
        return count

    def runs(self) -> list[tuple[int, str, str, int | None]]:
        return [
            (r["id"], r["kind"], r["state"], r["incident_id"])
            for r in reversed(views.list_runs(self.runtime))
        ]

    def incident(self, incident_id: int = 1) -> dict[str, Any]:
        return views.incident_detail(self.runtime, incident_id)

    def waitlist_on(self) -> bool:
        return self.runtime.flags().flag("waitlist").enabled


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.runtime.close()


def test_a_fault_behind_the_flag_is_mitigated_by_turning_it_off_with_no_redeploy(
    world: World,
) -> None:
    world.fault(behind_flag=True)

    assert world.fire() == f"{FIRED}; flag first: turning off waitlist (run 3, incident 1)"
    [result] = world.watcher.wait_for_runs(timeout=30)

    assert result.state is RunState.SUCCEEDED, result.message
    assert world.watcher.run_cycle() == [
        "api 1.1.0: error rate back under 5% with waitlist off: mitigated by the flag, "
        "no redeploy (run 3, incident 1)"
    ]
    assert world.watcher.run_cycle()[0].startswith("api 1.1.0: healthy")
    assert not world.waitlist_on()
    assert world.deploys() == 2, "only the two deploys of the setup"
    assert world.runtime.driver("api").current() == "1.1.0"
    assert world.runs() == [
        (1, "deploy", "succeeded", None),
        (2, "deploy", "succeeded", None),
        (3, "feature_flag", "succeeded", 1),
    ]
    incident = world.incident()
    assert incident["status"] == "resolved"
    assert incident["time_to_recover_s"] is not None
    kinds = [e["kind"] for e in incident["timeline"]]
    assert kinds[:2] == ["detected", "run_planned"]
    assert kinds.index("flag_changed") < kinds.index("recovered") < kinds.index("resolved")
    [change] = flag_ops.flag_detail(world.runtime, "waitlist")["changes"]
    assert (change["actor"], change["run_id"], change["incident_id"]) == ("backout-watch", 3, 1)
    assert change["reason"] == "flag first: trigger error-rate: error rate 12.0% > 5.0% for 1.0s"


def test_a_fault_the_flag_does_not_guard_is_rolled_back_in_the_same_incident(
    world: World,
) -> None:
    world.fault(behind_flag=False)

    assert world.fire() == f"{FIRED}; flag first: turning off waitlist (run 3, incident 1)"
    [flag_first] = world.watcher.wait_for_runs(timeout=30)
    assert flag_first.state is RunState.FAILED

    assert world.watcher.run_cycle() == [
        "api 1.1.0: flag first did not mitigate (run 3: trigger error-rate fired with waitlist "
        "off (api: error rate 12.0% > 5.0% for 1.0s): turning the flag off did not stop it), "
        "rolling back (run 4, incident 1)"
    ]
    results = world.watcher.wait_for_runs(timeout=30)

    assert results[-1].state is RunState.SUCCEEDED, results[-1].message
    assert world.runtime.driver("api").current() == "1.0.0"
    assert world.runs()[2:] == [
        (3, "feature_flag", "failed", 1),
        (4, "application", "succeeded", 1),
    ]
    assert world.incident()["status"] == "resolved"
    assert not world.waitlist_on(), "the flag stays off: turning it back on is a person's call"
    with world.runtime.store.session() as session:
        assert releases.find(session, "production", "api", "1.1.0").status == "rolled_back"


def test_a_watcher_started_after_flag_first_failed_still_rolls_back(world: World) -> None:
    world.fault(behind_flag=False)
    world.fire()
    world.watcher.wait_for_runs(timeout=30)

    restarted = Watcher(world.runtime)

    assert restarted.run_cycle()[0].endswith("rolling back (run 4, incident 1)")
    assert restarted.wait_for_runs(timeout=30)[-1].state is RunState.SUCCEEDED


def test_with_every_guarded_flag_already_off_it_rolls_back_at_once(world: World) -> None:
    flag_changes.disable(world.runtime, "waitlist", actor="alice", reason="killed by hand")
    world.fault(behind_flag=False)

    assert (
        world.fire()
        == f"{FIRED}; flag first: waitlist already off, rolling back (run 3, incident 1)"
    )
    [result] = world.watcher.wait_for_runs(timeout=30)

    assert result.state is RunState.SUCCEEDED, result.message
    assert [kind for _, kind, _, _ in world.runs()] == ["deploy", "deploy", "application"]
