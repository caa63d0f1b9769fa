"""An incident's status, and the one function that moves it.

    investigating → identified → monitoring → resolved

backout moves an incident where it knows (`Mover.BACKOUT`, forward only): a run planned on it
means the cause is identified, a verified recovery starts monitoring, and a run that ends
after its monitoring window with the triggers quiet resolves it. Evidence that the recovery
did not hold moves it back to investigating (`Mover.REOPEN`: a trigger fired again, or the run
failed after its checks passed) — from any status, resolved included. People move it
(`Mover.PERSON`) to any open status, or resolve it; they never reopen a resolved one: a
trigger does that, and a new problem opens a new incident.

Every move is one `status_changed` line on the timeline, with its actor and reason, and the
move in its evidence (`{"from": ..., "to": ...}`), which the status page and notifications read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from backout.errors import RefusedError
from backout.incidents.events import EventKind
from backout.incidents.timeline import add_event
from backout.store import Incident, utcnow


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


_ORDER = list(IncidentStatus)


class Mover(StrEnum):
    """Who asks for a move, which decides which moves are allowed."""

    BACKOUT = "backout"  # forward only; asking for a status it has reached already is a no-op
    REOPEN = "reopen"  # new evidence the recovery did not hold: back to investigating
    PERSON = "person"  # any open status, or resolved; never out of resolved


STAY = "stay"
MOVE = "move"


def decide_move(current: IncidentStatus, to: IncidentStatus, by: Mover) -> str:
    """MOVE, STAY (nothing to do), or the reason the move is refused, as a sentence."""
    if by is Mover.REOPEN:
        if to is not IncidentStatus.INVESTIGATING:
            return f"a reopened incident goes back to investigating, not to {to}"
        return STAY if current is to else MOVE
    if by is Mover.BACKOUT:
        return MOVE if _ORDER.index(to) > _ORDER.index(current) else STAY
    if current is to:
        return f"it is {to} already"
    if current is IncidentStatus.RESOLVED:
        return (
            "it is resolved, and a resolved incident is reopened only by a trigger firing "
            "again (a new problem opens a new incident)"
        )
    return MOVE


def move_incident(
    session: Session,
    incident: Incident,
    to: IncidentStatus,
    *,
    by: Mover,
    actor: str,
    reason: str,
    at: datetime | None = None,
    run_id: int | None = None,
) -> bool:
    """Move `incident` to `to` and say so on its timeline; False when it stays where it is.

    Raises RefusedError (naming the incident) for a move `by` may not make. Resolving sets
    `resolved_at`, reopening clears it; reaching monitoring or resolved with no recovery
    recorded stops the recovery clock there (a person says the service is back).
    """
    current = IncidentStatus(incident.status)
    decision = decide_move(current, to, by)
    if decision == STAY:
        return False
    if decision != MOVE:
        raise RefusedError(f"incident {incident.id} cannot become {to}: {decision}")
    at = at or utcnow()
    incident.status = to
    incident.resolved_at = at if to is IncidentStatus.RESOLVED else None
    if to in (IncidentStatus.MONITORING, IncidentStatus.RESOLVED) and incident.recovered_at is None:
        incident.recovered_at = at
    add_event(
        session,
        incident.id,
        EventKind.STATUS_CHANGED,
        f"{current} → {to}: {reason}",
        actor=actor,
        at=at,
        run_id=run_id,
        evidence=[{"from": current.value, "to": to.value}],
    )
    return True
