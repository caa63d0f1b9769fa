"""Open an incident, write its timeline, and measure it against its RTO."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backout.categories import IncidentCategory
from backout.errors import RefusedError
from backout.incidents.events import EventKind
from backout.incidents.lifecycle import IncidentStatus, Mover, move_incident
from backout.incidents.timeline import Evidence, add_event
from backout.store import Incident


def open_incident(
    session: Session,
    *,
    environment: str,
    service: str,
    title: str,
    trigger: str | None,
    release_id: int | None,
    rto_s: float,
    detected_at: datetime,
    impact_started_at: datetime | None,
    actor: str,
    severity: str = "critical",
    category: IncidentCategory = IncidentCategory.ERRORS,
    evidence: Evidence | None = None,
) -> Incident:
    """Open the subject's incident — or join the one already open: a subject has one open
    incident at a time (a unique index), so two detectors racing end in the same incident."""
    values = {
        "environment": environment,
        "service": service,
        "title": title,
        "severity": severity,
        "status": IncidentStatus.INVESTIGATING,
        "trigger": trigger,
        "release_id": release_id,
        "rto_s": rto_s,
        "detected_at": detected_at,
        "impact_started_at": impact_started_at,
        "category": category,
    }
    opened = session.execute(_insert_unless_open(session, values)).scalar_one_or_none()
    incident = session.get(Incident, opened) if opened is not None else None
    if incident is not None:
        add_event(
            session,
            incident.id,
            EventKind.DETECTED,
            title,
            actor=actor,
            at=detected_at,
            evidence=evidence,
        )
        return incident
    joined = open_incident_for(session, environment, service)
    if joined is None:  # the open one was resolved between our insert and this read
        raise RefusedError(f"could not open an incident of {service}; try again")
    message = f"{title} (incident {joined.id} was open already: joined it)"
    add_event(
        session,
        joined.id,
        EventKind.DETECTED,
        message,
        actor=actor,
        at=detected_at,
        evidence=evidence,
    )
    return joined


def _insert_unless_open(session: Session, values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: no id when the subject's open incident
    exists (no savepoint needed, and the caller's transaction stays usable)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(Incident).values(**values).on_conflict_do_nothing().returning(Incident.id)


def open_incident_for(session: Session, environment: str, service: str) -> Incident | None:
    """The newest unresolved incident of a service, if any."""
    return session.scalars(
        select(Incident)
        .where(
            Incident.environment == environment,
            Incident.service == service,
            Incident.status != IncidentStatus.RESOLVED,
        )
        .order_by(Incident.id.desc())
    ).first()


def mark_recovered(session: Session, incident: Incident, at: datetime, *, actor: str) -> None:
    """The previous version serves and passes its checks: the recovery clock stops here, and
    the incident is monitored."""
    if incident.recovered_at is None:
        incident.recovered_at = at
        recovered_in = time_to_recover(incident)
        recovered = f"service recovered in {recovered_in:.1f}s (RTO {incident.rto_s:.0f}s)"
        add_event(session, incident.id, EventKind.RECOVERED, recovered, actor=actor, at=at)
        move_incident(
            session,
            incident,
            IncidentStatus.MONITORING,
            by=Mover.BACKOUT,
            actor=actor,
            reason="recovery verified by its health checks; watching it",
            at=at,
        )


def withdraw_recovery(session: Session, incident: Incident, *, actor: str) -> None:
    """The run failed after its health checks passed: the service is not recovered after all."""
    incident.recovered_at = None
    message = "the rollback failed after its health checks passed: not recovered"
    add_event(session, incident.id, EventKind.RECOVERY_WITHDRAWN, message, actor=actor)
    move_incident(
        session,
        incident,
        IncidentStatus.INVESTIGATING,
        by=Mover.REOPEN,
        actor=actor,
        reason=message,
    )


def resolve(session: Session, incident: Incident, message: str, *, actor: str) -> None:
    """backout resolves what it verified: the domain line (`resolved`), then the move."""
    if incident.status != IncidentStatus.RESOLVED:
        add_event(session, incident.id, EventKind.RESOLVED, message, actor=actor)
        move_incident(
            session,
            incident,
            IncidentStatus.RESOLVED,
            by=Mover.BACKOUT,
            actor=actor,
            reason=message,
        )


def time_to_detect(incident: Incident) -> float | None:
    """Seconds from the bad release starting to serve to the trigger firing."""
    if incident.impact_started_at is None:
        return None
    return (incident.detected_at - incident.impact_started_at).total_seconds()


def time_to_recover(incident: Incident) -> float | None:
    """Seconds from the trigger firing to the previous version serving and verified."""
    if incident.recovered_at is None:
        return None
    return (incident.recovered_at - incident.detected_at).total_seconds()
