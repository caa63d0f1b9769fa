"""Analysis a team can trust: what cannot be judged never rolls back, every decision keeps its
evidence, the category picks the policy, and a restored release that fails too is not rolled
back from again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from backout import releases
from backout.clock import ManualClock
from backout.controller.watch import Watcher
from backout.metrics import FakeMetricHub, FakeMetricSource
from backout.metrics.fake import HEALTHY
from backout.operations import views
from backout.operations.deploy import deploy, mark_release
from backout.operations.own_metrics import ReadingsCollector
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime
from backout.store import AuditEntry

FAILING = HEALTHY.with_values(error_rate=0.12)
UNREADABLE = replace(HEALTHY, samples=0, problem="connection refused (127.0.0.1:9)")
ERRORS_RULE = {"name": "error-rate", "metric": "error_rate", "above": 0.05, "for": "1s"}


class Analysed:
    """One service `api` on fake parts, its source set by the test, the clock by hand."""

    def __init__(self, tmp_path: Path, **service: Any) -> None:
        config = {
            "tier": "critical",
            "driver": {"type": "fake"},
            "router": {"type": "fake"},
            "triggers": [ERRORS_RULE],
            "health": [{"type": "command", "command": "true"}],
            "policy": "rollback",
            "bake_time": "10s",
            "monitor": "2s",
            "traffic_hold": "0s",
            **service,
        }
        data = {
            "project": "analysis",
            "state": {"database": "sqlite:///state.db", "directory": ".backout"},
            "watch": {"inconclusive_alert_after": 3},
            "services": {"api": config},
        }
        path = tmp_path / "backout.yaml"
        path.write_text(yaml.safe_dump(data))
        self.clock = ManualClock(start=datetime.now(UTC))
        self.source = FakeMetricSource()
        hub = FakeMetricHub({"api": self.source})
        self.runtime = Runtime.open(path, clock=self.clock, metrics=hub)
        self.watcher = Watcher(self.runtime)

    def deploy(self, version: str, *, good: bool = False) -> None:
        result = deploy(self.runtime, "api", version, ref=None, actor="test")
        assert result.state is RunState.SUCCEEDED, result.message
        if good:
            mark_release(self.runtime, "api", version, ReleaseStatus.GOOD, actor="t", reason=None)

    def cycles(self, count: int) -> list[str]:
        decisions = []
        for _ in range(count):
            decisions += self.watcher.run_cycle()
            self.clock.advance(1)
        return decisions

    def status(self, version: str) -> str:
        with self.runtime.store.session() as session:
            return releases.find(session, "production", "api", version).status


@pytest.fixture
def analysed(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Analysed]:
    built = Analysed(tmp_path, **getattr(request, "param", {}))
    yield built
    built.watcher.wait_for_runs(timeout=30)
    built.runtime.close()


def test_a_source_that_cannot_be_read_is_inconclusive_alerted_once_and_never_rolled_back(
    analysed: Analysed,
) -> None:
    analysed.deploy("1.0.0", good=True)
    analysed.deploy("1.1.0")
    analysed.source.current = UNREADABLE

    decisions = analysed.cycles(6)

    assert decisions[0] == (
        "api 1.1.0: inconclusive, no rollback on that (error rate: cannot read the source: "
        "connection refused (127.0.0.1:9))"
    )
    assert decisions[2].endswith("; alerted after 3 readings in a row")
    assert sum("alerted" in d for d in decisions) == 1, "one alert per blind spell"
    assert views.list_runs(analysed.runtime, service="api")[0]["kind"] == "deploy"
    with analysed.runtime.store.session() as session:
        [alert] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "triggers_inconclusive")
        ).all()
        assert alert.detail is not None
        assert alert.detail["evidence"][0]["state"] == "inconclusive"


def test_too_little_traffic_is_inconclusive_even_when_every_request_failed(
    analysed: Analysed,
) -> None:
    analysed.runtime.config.service("api").triggers[0] = (
        analysed.runtime.config.service("api").triggers[0].model_copy(update={"min_samples": 20})
    )
    analysed.deploy("1.0.0")
    analysed.source.current = replace(HEALTHY.with_values(error_rate=1.0), samples=3)

    [decision] = analysed.cycles(1)

    assert decision == (
        "api 1.0.0: inconclusive, no rollback on that (error rate 100.0%: too little traffic: "
        "3 requests, at least 20 needed)"
    )


def test_the_incident_keeps_the_measurements_behind_the_decision(analysed: Analysed) -> None:
    analysed.deploy("1.0.0", good=True)
    analysed.deploy("1.1.0")
    analysed.source.current = FAILING

    analysed.cycles(2)

    detected = views.incident_detail(analysed.runtime, 1)["timeline"][0]
    assert detected["kind"] == "detected"
    [evidence] = detected["evidence"]
    assert evidence["rule"] == "error-rate"
    assert evidence["state"] == "firing"
    assert evidence["value"] == pytest.approx(0.12)
    assert evidence["threshold"] == pytest.approx(0.05)
    assert evidence["samples"] == 100
    assert evidence["held_s"] >= 1.0


@pytest.mark.parametrize(
    "analysed",
    [{"triggers": [{**ERRORS_RULE, "category": "data"}]}],
    indirect=True,
)
def test_a_data_incident_waits_for_a_person_though_the_policy_is_rollback(
    analysed: Analysed,
) -> None:
    analysed.deploy("1.0.0", good=True)
    analysed.deploy("1.1.0")
    analysed.source.current = FAILING

    decisions = analysed.cycles(2)

    assert decisions[-1].endswith("rolling back after approval (run 3, incident 1)")
    assert views.incident_detail(analysed.runtime, 1)["category"] == "data"


@pytest.mark.parametrize(
    "analysed",
    [{"triggers": [{k: v for k, v in ERRORS_RULE.items() if k != "for"} | {"failures": 3}]}],
    indirect=True,
)
def test_a_rule_may_count_consecutive_failing_measurements_instead_of_a_time(
    analysed: Analysed,
) -> None:
    analysed.deploy("1.0.0", good=True)
    analysed.deploy("1.1.0")
    analysed.source.current = FAILING

    decisions = analysed.cycles(3)

    assert decisions[1] == (
        "api 1.1.0: error rate 12.0% > 5.0% in 2 of 3 measurements in a row, holding"
    )
    assert decisions[2].startswith("api 1.1.0: error rate 12.0% > 5.0% in 3 of 3 measurements")
    assert "rolling back" in decisions[2]


@pytest.mark.parametrize("analysed", [{"monitor": "30s"}], indirect=True)
def test_a_restored_release_that_fails_too_is_marked_suspect_and_a_person_is_asked(
    analysed: Analysed,
) -> None:
    analysed.deploy("1.0.0", good=True)
    analysed.deploy("1.1.0")
    analysed.source.current = FAILING  # whatever runs: the cause is not the release

    analysed.cycles(2)  # fires, rolls back to 1.0.0; its monitor step sees the trigger fire
    [result] = analysed.watcher.wait_for_runs(timeout=30)
    assert result.state is RunState.FAILED
    decisions = analysed.cycles(4)

    assert any("no rollback: api 1.0.0, restored by run 3, fails too" in d for d in decisions)
    assert decisions[-1].endswith(
        "it is suspect since a rollback restored it: waiting for a person"
    )
    assert analysed.status("1.0.0") == ReleaseStatus.SUSPECT
    runs = views.list_runs(analysed.runtime, service="api")
    assert [r["kind"] for r in runs].count("application") == 1, "no second rollback"
    incident = views.incident_detail(analysed.runtime, 1)
    assert incident["status"] == "investigating", "the trigger reopened it"
    assert "needs_person" in [event["kind"] for event in incident["timeline"]]
    moves = [
        (event["evidence"][0]["from"], event["evidence"][0]["to"], event["actor"])
        for event in incident["timeline"]
        if event["kind"] == "status_changed"
    ]
    assert moves[0][:2] == ("investigating", "identified")
    # The monitor step saw it, in the run the watch started: by the run's actor, as its other lines.
    assert moves[-1] == ("monitoring", "investigating", "backout-watch")
    assert {move[2] for move in moves[1:]} == {"backout-watch"}


@pytest.mark.parametrize("analysed", [{"policy": "notify"}], indirect=True)
def test_a_trigger_quiet_again_says_so_once_on_the_incident_it_opened(analysed: Analysed) -> None:
    analysed.deploy("1.0.0", good=True)
    analysed.deploy("1.1.0")
    analysed.source.current = FAILING
    analysed.cycles(3)
    analysed.source.current = HEALTHY

    analysed.cycles(3)

    timeline = views.incident_detail(analysed.runtime, 1)["timeline"]
    [recovered] = [e for e in timeline if e["kind"] == "trigger_recovered"]
    assert recovered["message"] == "api 1.1.0: error-rate quiet again (error rate 0.0% ≤ 5.0%)"
    assert recovered["evidence"][0]["state"] == "quiet"


def test_each_reading_is_counted_by_its_outcome_for_metrics(analysed: Analysed) -> None:
    def counted(outcome: str) -> float:
        return sum(
            sample.value
            for family in ReadingsCollector().collect()
            for sample in family.samples
            if sample.labels == {"service": "api", "outcome": outcome}
        )

    before = {o: counted(o) for o in ("quiet", "inconclusive", "breached")}
    analysed.deploy("1.0.0")
    analysed.cycles(1)  # the first reading may have no samples yet
    analysed.source.current = UNREADABLE
    analysed.cycles(2)
    analysed.source.current = FAILING
    analysed.cycles(1)

    assert counted("inconclusive") - before["inconclusive"] >= 2
    assert counted("breached") - before["breached"] == 1
