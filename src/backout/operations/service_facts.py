"""What `backout status` and `GET /api/v1/services` show of every service: its state in the
store, read in four queries for all services together (one per kind of fact), not four per
service, and what its driver sees.

Each query gives the same answer as the function of `releases` named beside it; a test holds
them to it (tests/core/test_service_facts.py). They are Core queries on the store's tables, run
on a connection: `backout status` never imports the ORM.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import BindParameter, Connection, String, bindparam, cast, func, select

from backout.errors import BackoutError
from backout.store.tables import (
    TERMINAL,
    ReleaseStatus,
    deployments,
    incidents,
    releases,
    run_subjects,
    runs,
)
from backout.subjects import SubjectKind

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from backout.runtime import Runtime

_ENVIRONMENT: BindParameter[str] = bindparam("environment", type_=String())

# releases.live(): the release of each service's newest deployment.
_LIVE = (
    select(deployments.c.service, releases.c.version, releases.c.status)
    .join(releases, releases.c.id == deployments.c.release_id)
    .where(
        deployments.c.id.in_(
            select(func.max(deployments.c.id))
            .where(deployments.c.environment == _ENVIRONMENT)
            .group_by(deployments.c.service)
        )
    )
)
# releases.last_known_good(): each service's newest release marked good and affected by no
# advisory (its JSON list is NULL, JSON null, or empty).
_UNAFFECTED = func.coalesce(cast(releases.c.advisories, String), "null").in_(("null", "[]"))
_LAST_KNOWN_GOOD = select(releases.c.service, releases.c.version).where(
    releases.c.id.in_(
        select(func.max(releases.c.id))
        .where(
            releases.c.environment == _ENVIRONMENT,
            releases.c.status == ReleaseStatus.GOOD,
            _UNAFFECTED,
        )
        .group_by(releases.c.service)
    )
)
_OPEN_INCIDENTS = (
    select(incidents.c.service, incidents.c.id)
    .where(incidents.c.environment == _ENVIRONMENT, incidents.c.status != "resolved")
    .order_by(incidents.c.id)
)
_ACTIVE_RUNS = (  # a run over several services is active for each of them
    select(run_subjects.c.subject_name, runs.c.id)
    .join(runs, runs.c.id == run_subjects.c.run_id)
    .where(
        runs.c.environment == _ENVIRONMENT,
        runs.c.state.not_in(TERMINAL),
        run_subjects.c.subject_kind == SubjectKind.SERVICE.value,
    )
    .order_by(runs.c.id)
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


def read_service_facts(db: Connection | Session, environment: str) -> ServiceFacts:
    """Every service's live release, last known good, open incidents and active runs."""
    where = {"environment": environment}
    facts = ServiceFacts()
    for service, version, status in db.execute(_LIVE, where):
        facts.live[service] = LiveRelease(version, status)
    for service, version in db.execute(_LAST_KNOWN_GOOD, where):
        facts.last_known_good[service] = version
    for service, incident_id in db.execute(_OPEN_INCIDENTS, where):
        facts.open_incidents[service].append(incident_id)
    for service, run_id in db.execute(_ACTIVE_RUNS, where):
        facts.active_runs[service].append(run_id)
    return facts


def read_facts(runtime: Runtime) -> ServiceFacts:
    """What the store knows of every service (a caller may keep it until the store changes)."""
    with runtime.store.connection() as connection:
        return read_service_facts(connection, runtime.environment)


def service_statuses(runtime: Runtime, facts: ServiceFacts | None = None) -> list[dict[str, Any]]:
    """Each service as the store (`facts`, read now if not given) and its driver see it."""
    facts = facts if facts is not None else read_facts(runtime)
    views = []
    for name, service in runtime.config.services.items():
        live = facts.live.get(name)
        process: dict[str, Any] = dict.fromkeys(("pid", "port", "url", "started_at"))
        try:
            driver_status = runtime.driver(name).status()
            running, detail = str(driver_status.state), driver_status.detail
            process = {key: getattr(driver_status, key) for key in process}
        except BackoutError as error:  # one broken driver must not hide the other services
            running, detail = "unknown", f"status unavailable: {error.message}"
        views.append(
            {
                "service": name,
                "tier": service.tier,
                "live_version": live.version if live else None,
                "live_status": live.status if live else None,
                "running": running,
                **process,
                "detail": detail,
                "last_known_good": facts.last_known_good.get(name),
                "open_incidents": facts.open_incidents.get(name, []),
                "active_runs": facts.active_runs.get(name, []),
            }
        )
    return views
