"""The public status page: the services as components, their state, and their open and recent
incidents with the updates meant for the public — in the shape of Statuspage's `summary.json`
(page, status, components, incidents, scheduled_maintenances), which the HTML page renders too.

What reaches the page is chosen here, not filtered later: the timeline is read only for the
kinds that change an incident's public status and for public updates (public_update), and a
status change is told in a fixed sentence, never its internal text. An incident's name says
which service and what kind of trouble, never its title (titles carry versions and
measurements). Notes, evidence, versions, runs and hosts are never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select

from backout.categories import IncidentCategory
from backout.config import Config, StatusPageSettings
from backout.incidents import EventKind, IncidentStatus
from backout.store.tables import deployments, incidents, timeline_events

MAX_INCIDENTS = 50  # incidents on the page, newest first
INCIDENT_NAMES = {
    IncidentCategory.ERRORS: "elevated error rates",
    IncidentCategory.PERFORMANCE: "degraded performance",
    IncidentCategory.BUSINESS: "some features not working",
    IncidentCategory.DATA: "a data issue",
    IncidentCategory.SECURITY: "a security issue",
}
STATUS_SENTENCES = {
    IncidentStatus.INVESTIGATING: "We are investigating a problem with {service}.",
    IncidentStatus.IDENTIFIED: "The cause has been identified and a fix is under way.",
    IncidentStatus.MONITORING: "A fix has been applied and we are monitoring the results.",
    IncidentStatus.RESOLVED: "This incident has been resolved.",
}
# The status each kind of event moves an incident to (status_changed names its own).
_MOVES_TO = {
    EventKind.DETECTED: IncidentStatus.INVESTIGATING,
    EventKind.REOPENED: IncidentStatus.INVESTIGATING,
    EventKind.RECOVERY_WITHDRAWN: IncidentStatus.INVESTIGATING,
    EventKind.RECOVERED: IncidentStatus.MONITORING,
    EventKind.RESOLVED: IncidentStatus.RESOLVED,
}
PUBLIC_KINDS = frozenset({*_MOVES_TO, EventKind.STATUS_CHANGED, EventKind.PUBLIC_UPDATE})
_SEVERITY = ["operational", "degraded_performance", "partial_outage", "major_outage"]
INDICATORS = {  # the page's indicator and description by its worst component
    "operational": ("none", "All Systems Operational"),
    "degraded_performance": ("minor", "Minor Service Outage"),
    "partial_outage": ("major", "Partial System Outage"),
    "major_outage": ("critical", "Major System Outage"),
}


@dataclass
class PublicIncident:
    """One incident as the page shows it, built from its row and its public events."""

    id: int
    service: str
    category: str
    status: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    monitoring_at: datetime | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)


def read_summary(
    db: Connection, config: Config, environment: str, *, now: datetime, page_url: str
) -> dict[str, Any]:
    """The page, as Statuspage's summary.json, of what the store holds `now`."""
    settings = config.status_page
    shown = settings.services if settings.services is not None else list(config.services)
    found = _incidents(db, environment, shown, since=now - timedelta(days=settings.recent_days))
    _add_updates(db, found)
    changed = _deployment_times(db, environment, shown)
    page_id = _page_id(config)
    components = [
        {**_component(name, i, found, changed, now), "page_id": page_id}
        for i, name in enumerate(shown)
    ]
    by_name = {c["name"]: c for c in components}
    incidents_out = [
        {**_incident_out(i, by_name[i.service], page_url), "page_id": page_id} for i in found
    ]
    worst = max((c["status"] for c in components), key=_SEVERITY.index, default="operational")
    indicator, description = INDICATORS[worst]
    moments = [c["updated_at"] for c in components] + [i["updated_at"] for i in incidents_out]
    return {
        "page": {
            "id": page_id,
            "name": page_title(config.project, settings),
            "url": page_url,
            "time_zone": "Etc/UTC",
            "updated_at": max(moments, default=now.isoformat()),
        },
        "status": {"indicator": indicator, "description": description},
        "components": components,
        "incidents": incidents_out,
        "scheduled_maintenances": [],
    }


def page_title(project: str, settings: StatusPageSettings) -> str:
    return settings.title or f"{project} status"


def _page_id(config: Config) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"{config.project}-{config.environment}".lower()).strip("-")


def _incidents(
    db: Connection, environment: str, services: list[str], *, since: datetime
) -> list[PublicIncident]:
    """The open incidents of the shown services, and those resolved since `since`."""
    query = (
        select(
            incidents.c.id,
            incidents.c.service,
            incidents.c.category,
            incidents.c.status,
            incidents.c.detected_at,
            incidents.c.resolved_at,
        )
        .where(
            incidents.c.environment == environment,
            incidents.c.service.in_(services),
            or_(incidents.c.status != IncidentStatus.RESOLVED, incidents.c.resolved_at >= since),
        )
        .order_by(incidents.c.id.desc())
        .limit(MAX_INCIDENTS)
    )
    return [
        PublicIncident(
            id=row.id,
            service=row.service,
            category=row.category,
            status=row.status,
            created_at=row.detected_at,
            updated_at=row.resolved_at or row.detected_at,
            resolved_at=row.resolved_at,
        )
        for row in db.execute(query)
    ]


def _add_updates(db: Connection, found: list[PublicIncident]) -> None:
    """Each incident's public updates, newest first, from its status-changing and
    public_update events (only those kinds are read)."""
    by_id = {incident.id: incident for incident in found}
    if not by_id:
        return
    query = (
        select(
            timeline_events.c.id,
            timeline_events.c.incident_id,
            timeline_events.c.kind,
            timeline_events.c.message,
            timeline_events.c.evidence,
            timeline_events.c.at,
        )
        .where(
            timeline_events.c.incident_id.in_(by_id),
            timeline_events.c.kind.in_([k.value for k in PUBLIC_KINDS]),
        )
        .order_by(timeline_events.c.id)
    )
    status: dict[int, str | None] = dict.fromkeys(by_id)
    for event in db.execute(query):
        incident = by_id[event.incident_id]
        update = _public_update(incident, event, status[incident.id])
        if update is None:
            continue
        status[incident.id] = update["status"]
        if update["status"] == IncidentStatus.MONITORING and incident.monitoring_at is None:
            incident.monitoring_at = event.at
        incident.updates.insert(0, update)  # Statuspage lists the newest first
        incident.updated_at = max(incident.updated_at, event.at)


def _public_update(
    incident: PublicIncident, event: Any, current: str | None
) -> dict[str, Any] | None:
    """What the public is told of one event: a public update's own text, or the fixed
    sentence of a move to another status (None when the status does not change)."""
    status: str | None
    if event.kind == EventKind.PUBLIC_UPDATE:
        body, status = str(event.message), current or IncidentStatus.INVESTIGATING
    else:
        status = _MOVES_TO.get(event.kind) or _status_moved_to(event) or current
        if status is None or status == current:
            return None
        body = STATUS_SENTENCES[IncidentStatus(status)].format(service=incident.service)
    at = event.at.isoformat()
    return {
        "id": str(event.id),
        "incident_id": str(incident.id),
        "status": status,
        "body": body,
        "created_at": at,
        "updated_at": at,
        "display_at": at,
    }


def _status_moved_to(event: Any) -> str | None:
    """The status a status_changed event moved to, as its evidence says (`{"from", "to"}`:
    incidents/lifecycle.py writes every one of them)."""
    evidence = event.evidence or []
    if evidence and isinstance(evidence[0], dict) and evidence[0].get("to"):
        return str(evidence[0]["to"])
    return None


def _deployment_times(
    db: Connection, environment: str, services: list[str]
) -> dict[str, tuple[datetime, datetime]]:
    """Each shown service's first and latest deployment."""
    query = (
        select(deployments.c.service, func.min(deployments.c.at), func.max(deployments.c.at))
        .where(deployments.c.environment == environment, deployments.c.service.in_(services))
        .group_by(deployments.c.service)
    )
    return {service: (first, last) for service, first, last in db.execute(query)}


def _component(
    name: str,
    position: int,
    found: list[PublicIncident],
    deployed: dict[str, tuple[datetime, datetime]],
    now: datetime,
) -> dict[str, Any]:
    """A service as a Statuspage component: its state follows its open incident. A service
    never deployed dates from the hour the page is read (a stable date, for the ETag)."""
    mine = [i for i in found if i.service == name]
    open_ = next((i for i in mine if i.status != IncidentStatus.RESOLVED), None)
    hour = now.replace(minute=0, second=0, microsecond=0)
    first, last = deployed.get(name, (hour, hour))
    changed = max([last, *(i.updated_at for i in mine)])
    return {
        "id": name,
        "name": name,
        "status": _component_status(open_),
        "created_at": first.isoformat(),
        "updated_at": changed.isoformat(),
        "position": position + 1,
        "description": None,
        "showcase": True,
        "group_id": None,
        "group": False,
        "only_show_if_degraded": False,
    }


def _component_status(open_incident: PublicIncident | None) -> str:
    if open_incident is None:
        return "operational"
    if open_incident.status == IncidentStatus.MONITORING:
        return "degraded_performance"  # recovered, being watched
    if open_incident.category == IncidentCategory.PERFORMANCE:
        return "degraded_performance"
    return "partial_outage"


def _incident_out(incident: PublicIncident, component: dict[str, Any], url: str) -> dict[str, Any]:
    category = IncidentCategory(incident.category)
    return {
        "id": str(incident.id),
        "name": f"{incident.service}: {INCIDENT_NAMES[category]}",
        "status": incident.status,
        "impact": "minor" if category == IncidentCategory.PERFORMANCE else "major",
        "created_at": incident.created_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
        "started_at": incident.created_at.isoformat(),
        "monitoring_at": _iso(incident.monitoring_at),
        "resolved_at": _iso(incident.resolved_at),
        "shortlink": f"{url}#incident-{incident.id}",
        "incident_updates": incident.updates,
        "components": [component],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
