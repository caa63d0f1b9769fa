"""No flapping: a release a rollback restored that fails too is not rolled back from again.

For the service's monitoring window after a rollback (`monitor`, 30 minutes by default) the
triggers stay armed on the restored release. If one fires, the problem is likely not the
release (a dependency, the data, the traffic): rolling back further would only move the
damage. backout stops instead — the incident stays open, the restored release is marked
suspect (never a rollback target on its own again), and a person is asked, with what was seen.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout import releases
from backout.incidents import EventKind, Evidence, IncidentStatus, Mover, add_event, move_incident
from backout.releases import ReleaseStatus
from backout.runs.records import TERMINAL
from backout.store import Incident, Release, Run, RunSubject
from backout.subjects import SubjectKind

ROLLBACK_KINDS = ("application",)  # one service or several, back to a release


def restored_recently(
    session: Session, service: str, live: Release, *, within: timedelta, now: datetime
) -> Run | None:
    """The rollback that put `live` back, if it ended less than `within` ago."""
    query = (
        select(Run)
        .join(RunSubject, RunSubject.run_id == Run.id)
        .where(
            Run.environment == live.environment,
            Run.kind.in_(ROLLBACK_KINDS),
            Run.state.in_(TERMINAL),
            Run.finished_at.is_not(None),
            Run.finished_at >= now - within,
            RunSubject.subject_kind == SubjectKind.SERVICE.value,
            RunSubject.subject_name == service,
            RunSubject.target_version == live.version,
        )
        .order_by(Run.id.desc())
    )
    return session.scalars(query).first()


def ask_a_person(
    session: Session,
    run: Run,
    live: Release,
    symptoms: str,
    evidence: Evidence,
    *,
    actor: str,
    at: datetime,
) -> str:
    """Mark the restored release suspect and ask a person on the rollback's incident."""
    release = releases.find(session, live.environment, live.service, live.version)
    releases.mark(
        release, ReleaseStatus.SUSPECT, reason=f"failed again after run {run.id}: {symptoms}", at=at
    )
    message = (
        f"{live.service} {live.version}, restored by run {run.id}, fails too: {symptoms}. "
        "Not rolling back again: the cause may not be the release. A person decides: "
        f"`backout rollback {live.service} --to VERSION`, or `backout release mark "
        f"{live.service} {live.version} good` if it is"
    )
    if run.incident_id is None:
        return message
    incident = session.get(Incident, run.incident_id)
    if incident is not None:
        add_event(
            session,
            incident.id,
            EventKind.NEEDS_PERSON,
            message,
            actor=actor,
            at=at,
            evidence=evidence,
        )
        reopened = IncidentStatus.INVESTIGATING
        reason = f"{live.service} {live.version} fails again after the rollback"
        move_incident(
            session, incident, reopened, by=Mover.REOPEN, actor=actor, reason=reason, at=at
        )
    return message
