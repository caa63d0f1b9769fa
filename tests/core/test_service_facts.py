"""The facts of every service read at once agree with the functions that read one service's:
the live release, the last known good, open incidents and active runs — per environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backout import releases
from backout.operations.service_facts import LiveRelease, read_service_facts
from backout.releases import ReleaseStatus
from backout.runs.records import TERMINAL
from backout.store import Incident, Run, RunSubject, Store, utcnow

SERVICES = ("api", "web", "worker", "never-deployed")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    store = Store.open(f"sqlite:///{tmp_path}/state.db")
    with store.session() as s:
        yield s
    store.close()


def deploy(session: Session, env: str, service: str, version: str, status: ReleaseStatus) -> None:
    release = releases.record(session, env, service, version, ref=None, actor="ci")
    releases.mark(release, status)
    releases.record_deployment(session, release, actor="ci")


def add_run(session: Session, env: str, service: str, state: str) -> None:
    run = Run(
        environment=env, kind="application", service=service, reason="r", state=state, actor="ci"
    )
    session.add(run)
    session.flush()
    session.add(RunSubject(run_id=run.id, position=1, subject_kind="service", subject_name=service))


def add_incident(session: Session, env: str, service: str, status: str) -> None:
    session.add(
        Incident(
            environment=env,
            service=service,
            title="t",
            severity="high",
            status=status,
            rto_s=900.0,
            detected_at=utcnow(),
        )
    )


def test_facts_of_all_services_match_the_per_service_reads(session: Session) -> None:
    for env in ("prod", "staging"):
        deploy(session, env, "api", "1.0.0", ReleaseStatus.GOOD)
        deploy(session, env, "api", "1.1.0", ReleaseStatus.GOOD)
        deploy(session, env, "api", "1.2.0", ReleaseStatus.BAD)
        deploy(session, env, "api", "1.1.0", ReleaseStatus.GOOD)  # rolled back to: live again
        deploy(session, env, "web", "2.0.0", ReleaseStatus.LIVE)
        deploy(session, env, "web", "1.9.0", ReleaseStatus.GOOD)
        deploy(session, env, "web", "1.9.1", ReleaseStatus.GOOD)
        # A good release affected by an advisory is no last known good (security rollbacks).
        releases.add_advisory(releases.find(session, env, "web", "1.9.1"), "CVE-2026-1234")
        deploy(session, env, "web", "2.0.0", ReleaseStatus.LIVE)
        releases.record(session, env, "worker", "0.9.0", ref=None, actor="ci")  # never deployed
        for state in ("succeeded", "running", "awaiting_approval", "failed", "planned"):
            add_run(session, env, "api", state)
        # One open incident per subject (a unique index); resolved ones as many as happened.
        for service, status in (("web", "resolved"), ("web", "open"), ("api", "recovered")):
            add_incident(session, env, service, status)
    session.flush()

    facts = read_service_facts(session, "prod")

    for service in SERVICES:
        live = releases.live(session, "prod", service)
        good = releases.last_known_good(session, "prod", service)
        expected_live = LiveRelease(live.version, live.status) if live else None
        assert facts.live.get(service) == expected_live, service
        assert facts.last_known_good.get(service) == (good.version if good else None), service
        incidents = session.scalars(
            select(Incident.id)
            .where(Incident.environment == "prod", Incident.service == service)
            .where(Incident.status != "resolved")
            .order_by(Incident.id)
        ).all()
        runs = session.scalars(
            select(Run.id)
            .where(Run.environment == "prod", Run.service == service)
            .where(Run.state.not_in(TERMINAL))
            .order_by(Run.id)
        ).all()
        assert facts.open_incidents.get(service, []) == list(incidents), service
        assert facts.active_runs.get(service, []) == list(runs), service
    assert facts.live["api"] == LiveRelease("1.1.0", "good")
    assert facts.last_known_good["web"] == "1.9.0"  # 1.9.1 is affected by an advisory
    assert len(facts.active_runs["api"]) == 3
    assert len(facts.open_incidents["web"]) == 1
    assert len(facts.open_incidents["api"]) == 1
