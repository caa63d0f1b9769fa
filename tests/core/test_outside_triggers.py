"""fire(): an outside trigger opens or joins the service's incident and answers by policy —
once: deliveries racing, or repeated, end in one incident and one run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from backout.categories import IncidentCategory
from backout.incidents import open_incident
from backout.operations.deploy import record_release
from backout.operations.outside_triggers import Action, OutsideTrigger, TriggerOutcome, fire
from backout.releases import ReleaseStatus
from backout.runtime import Runtime
from backout.store import Run, TimelineEvent, utcnow

TRIGGER = OutsideTrigger("api", IncidentCategory.ERRORS, "alertmanager:Errors", "errors up")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    service = {"tier": "critical", "policy": "rollback", "monitor": "0s", "traffic_hold": "0s",
               "driver": {"type": "fake"}}  # fmt: skip
    config = {
        "project": "t",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {"api": service, "idle": service},
    }
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    runtime = Runtime.open(path)
    record_release(runtime, "api", "1.0.0", ref=None, actor="t", status=ReleaseStatus.GOOD)
    record_release(runtime, "api", "1.1.0", ref=None, actor="t", status=ReleaseStatus.LIVE)
    yield runtime
    runtime.close()


def run_ids(runtime: Runtime) -> list[int]:
    with runtime.store.session() as session:
        return list(session.scalars(select(Run.id)))


def test_deliveries_racing_end_in_one_incident_and_one_run(runtime: Runtime) -> None:
    outcomes: list[TriggerOutcome] = []
    start = threading.Barrier(4)

    def deliver() -> None:
        start.wait()
        outcomes.append(fire(runtime, TRIGGER, actor="am"))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(outcomes) == 4
    assert len({o.incident_id for o in outcomes}) == 1
    assert sorted(o.action for o in outcomes).count(Action.ROLLING_BACK) == 1, outcomes
    assert {o.action for o in outcomes} <= {Action.ROLLING_BACK, Action.JOINED}, outcomes
    assert len(run_ids(runtime)) == 1


def test_an_open_incident_whose_run_never_started_gets_it(runtime: Runtime) -> None:
    with runtime.store.session() as session:
        incident = open_incident(
            session, environment=runtime.environment, service="api", title="opened, then a crash",
            trigger="x", release_id=None, rto_s=900, detected_at=utcnow(),
            impact_started_at=None, actor="t",
        )  # fmt: skip
        incident_id = incident.id

    outcome = fire(runtime, TRIGGER, actor="am")

    assert (outcome.action, outcome.incident_id) == (Action.ROLLING_BACK, incident_id)
    assert run_ids(runtime) == [outcome.run_id]
    with runtime.store.session() as session:
        kinds = session.scalars(
            select(TimelineEvent.kind).where(TimelineEvent.incident_id == incident_id)
        ).all()
    assert kinds[:3] == ["detected", "trigger_fired", "run_planned"]


def test_a_service_with_nothing_deployed_gets_an_incident_and_no_run(runtime: Runtime) -> None:
    trigger = OutsideTrigger("idle", IncidentCategory.SECURITY, "security:CVE-1", "affected")

    outcome = fire(runtime, trigger, actor="t")

    assert outcome.action == Action.NOTHING_DEPLOYED
    assert outcome.sentence == (
        "idle (nothing deployed): affected: incident 1 opened; nothing is deployed to roll back"
    )
    assert run_ids(runtime) == []
