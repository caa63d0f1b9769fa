"""What `backout status` and `GET /api/v1/services` show of every service's state in the store,
read in four queries for all services together (one per kind of fact), not four per service.

Each query gives the same answer as the function of `releases` named beside it; a test holds
them to it (tests/core/test_service_facts.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import BindParameter, String, bindparam, func, select
from sqlalchemy.orm import Session

from backout.releases import ReleaseStatus
from backout.runs.records import TERMINAL
from backout.store import Deployment, Incident, Release, Run, RunSubject
from backout.subjects import SubjectKind

_ENVIRONMENT: BindParameter[str] = bindparam("environment", type_=String())

# releases.live(): the release of each service's newest deployment.
_LIVE = (
    select(Deployment.service, Release.version, Release.status)
    .join(Release, Release.id == Deployment.release_id)
    .where(
        Deployment.id.in_(
            select(func.max(Deployment.id))
            .where(Deployment.environment == _ENVIRONMENT)
            .group_by(Deployment.service)
        )
    )
)
# releases.last_known_good(): each service's newest release marked good.
_LAST_KNOWN_GOOD = select(Release.service, Release.version).where(
    Release.id.in_(
        select(func.max(Release.id))
        .where(Release.environment == _ENVIRONMENT, Release.status == ReleaseStatus.GOOD)
        .group_by(Release.service)
    )
)
_OPEN_INCIDENTS = (
    select(Incident.service, Incident.id)
    .where(Incident.environment == _ENVIRONMENT, Incident.status != "resolved")
    .order_by(Incident.id)
)
_ACTIVE_RUNS = (  # a run over several services is active for each of them
    select(RunSubject.subject_name, Run.id)
    .join(Run, Run.id == RunSubject.run_id)
    .where(
        Run.environment == _ENVIRONMENT,
        Run.state.not_in(TERMINAL),
        RunSubject.subject_kind == SubjectKind.SERVICE.value,
    )
    .order_by(Run.id)
)


@dataclass(frozen=True)
class LiveRelease:
    version: str
    status: str


@dataclass
class ServiceFacts:
    """By service name; a service absent from a mapping has nothing of that kind."""

    live: dict[str, LiveRelease] = field(default_factory=dict)
    last_known_good: dict[str, str] = field(default_factory=dict)
    open_incidents: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    active_runs: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def read_service_facts(session: Session, environment: str) -> ServiceFacts:
    """Every service's live release, last known good, open incidents and active runs."""
    where = {"environment": environment}
    facts = ServiceFacts()
    for service, version, status in session.execute(_LIVE, where):
        facts.live[service] = LiveRelease(version, status)
    for service, version in session.execute(_LAST_KNOWN_GOOD, where):
        facts.last_known_good[service] = version
    for service, incident_id in session.execute(_OPEN_INCIDENTS, where):
        facts.open_incidents[service].append(incident_id)
    for service, run_id in session.execute(_ACTIVE_RUNS, where):
        facts.active_runs[service].append(run_id)
    return facts
