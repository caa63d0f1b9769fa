"""One line of an incident's timeline: the one place a timeline event is written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backout.incidents.events import EventKind
from backout.redact import redact
from backout.store import TimelineEvent, utcnow
from backout.store.engine import TIMELINE_HOOK

Evidence = list[dict[str, Any]]
"""The measurements behind a decision, one mapping per rule or source (see triggers.py)."""


def add_event(
    session: Session,
    incident_id: int,
    kind: EventKind,
    message: str,
    *,
    actor: str,
    run_id: int | None = None,
    at: datetime | None = None,
    evidence: Evidence | None = None,
) -> TimelineEvent:
    """One line of the incident's timeline; `evidence` keeps the measurements behind it."""
    event = TimelineEvent(
        incident_id=incident_id,
        run_id=run_id,
        kind=kind,
        message=redact(message),  # the timeline is read by people, the API and reports
        actor=actor,
        at=at or utcnow(),
        evidence=evidence,
    )
    session.add(event)
    session.flush()
    hook = session.info.get(TIMELINE_HOOK)  # the notifications the event causes, same transaction
    if hook is not None:
        hook(session, event)
    return event
