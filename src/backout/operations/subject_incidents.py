"""A person's run over one subject (a database, a stack, a DNS record), in its incident."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from backout.incidents import open_incident, open_incident_for
from backout.plans import Plan
from backout.runs.start import NewRun, RunHandle, start_run
from backout.runs.storing import IncidentOpener
from backout.runtime import Runtime
from backout.store import Run
from backout.subjects import Subject


def _incident_opener(
    runtime: Runtime, subject: Subject, *, actor: str, reason: str, rto: timedelta
) -> IncidentOpener:
    """Open (or join) `subject`'s incident inside the run's own transaction, its RTO `rto`."""

    def incident_for(session: Session, run: Run) -> int:
        incident = open_incident_for(session, runtime.environment, subject.key)
        if incident is None:
            incident = open_incident(
                session,
                environment=runtime.environment,
                service=subject.key,
                title=f"{subject.label}: {reason}",
                trigger="manual",
                release_id=None,
                rto_s=rto.total_seconds(),
                detected_at=runtime.clock.now(),
                impact_started_at=None,
                actor=actor,
            )
        return incident.id

    return incident_for


def start_subject_run(
    runtime: Runtime, plan: Plan, *, actor: str, reason: str, rto: timedelta
) -> RunHandle:
    """Store the previewed `plan` as a run holding its subject's lock, inside the subject's
    open incident or a new one whose RTO is `rto`."""
    opener = _incident_opener(runtime, plan.subject, actor=actor, reason=reason, rto=rto)
    return start_run(runtime, NewRun(plan, actor=actor, reason=reason, open_incident=opener))
