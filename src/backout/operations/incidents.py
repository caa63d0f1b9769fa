"""What people do with an incident: move its status, write notes and public updates, confirm
checklist items — and what `incident show` adds to its timeline: objectives and checklist.

The CLI and the API call these with the person as `actor` (`$BACKOUT_ACTOR`, or `token:NAME`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout.errors import NotFoundError, RefusedError
from backout.incidents import EventKind, IncidentStatus, Mover, add_event, move_incident
from backout.incidents.checklist import (
    ChecklistItem,
    Happened,
    ItemState,
    checklist_item,
    checklist_state,
    confirmed_item,
)
from backout.incidents.objectives import IncidentClock, decision_moments, measure
from backout.limits import MAX_NOTE_CHARS
from backout.runs.records import TERMINAL, StepState
from backout.runtime import Runtime
from backout.store import Incident, Run, Step
from backout.store.ids import find_by_id


def find_incident(session: Session, incident_id: int) -> Incident:
    incident = find_by_id(session, Incident, incident_id)
    if incident is None:
        raise NotFoundError(
            f"there is no incident {incident_id}", hint="list them with: backout incidents"
        )
    return incident


def set_status(
    runtime: Runtime, incident_id: int, to: IncidentStatus, *, actor: str, message: str | None
) -> str:
    """A person moves the incident; refused for a move the lifecycle does not allow, and for
    resolving while one of its runs is still going."""
    with runtime.store.session() as session:
        incident = find_incident(session, incident_id)
        if to is IncidentStatus.RESOLVED:
            _refuse_while_running(session, incident)
        reason = _bounded(message) if message else f"set by {actor}"
        if to is IncidentStatus.RESOLVED and incident.status != IncidentStatus.RESOLVED:
            # The domain line every `resolved` notification and the report key off, as when
            # backout resolves what it verified.
            add_event(session, incident.id, EventKind.RESOLVED, reason, actor=actor)
        move_incident(session, incident, to, by=Mover.PERSON, actor=actor, reason=reason)
        return f"incident {incident_id} is {to}"


def add_note(runtime: Runtime, incident_id: int, text: str, *, public: bool, actor: str) -> str:
    """A person's note on the timeline; `public` makes it a public update (the status page)."""
    kind = EventKind.PUBLIC_UPDATE if public else EventKind.NOTE
    with runtime.store.session() as session:
        incident = find_incident(session, incident_id)
        event = add_event(session, incident.id, kind, _bounded(text), actor=actor)
        return f"{kind.replace('_', ' ')} added to incident {incident_id} at {event.at:%H:%M:%S}"


def confirm_item(runtime: Runtime, incident_id: int, item_id: str, *, actor: str) -> str:
    """A person confirms a checklist item; refused when it is done already (saying by whom)."""
    item = checklist_item(item_id)
    with runtime.store.session() as session:
        incident = find_incident(session, incident_id)
        state = _state(session, incident, item)
        if state.done:
            raise RefusedError(
                f"checklist item {item.id} of incident {incident_id} is done already: "
                f"{state.how} by {state.by} at {state.at:%Y-%m-%d %H:%M:%S}"
            )
        _confirm(session, incident, item, actor)
        return f"{item.id} confirmed on incident {incident_id} by {actor}"


def confirm_with_approval(
    session: Session, incident: Incident, items: list[ChecklistItem], *, actor: str
) -> None:
    """The approver confirms `items` with an approval, in its transaction: each one not done
    yet is a checklist_confirmed line (a done one is left as it is)."""
    done = {s.item.id for s in checklist_state(_happened(session, incident)) if s.done}
    for item in items:
        if item.id not in done:
            _confirm(session, incident, item, actor)


def _state(session: Session, incident: Incident, item: ChecklistItem) -> ItemState:
    return next(s for s in checklist_state(_happened(session, incident)) if s.item is item)


def _confirm(session: Session, incident: Incident, item: ChecklistItem, actor: str) -> None:
    add_event(
        session,
        incident.id,
        EventKind.CHECKLIST_CONFIRMED,
        f"confirmed {item.id}: {item.title} — {item.text}",
        actor=actor,
        evidence=[{"item": item.id}],
    )


def objectives_and_checklist(
    runtime: Runtime, session: Session, incident: Incident
) -> dict[str, Any]:
    """The objectives measured and the checklist's state, as `incident show` adds them."""
    now = runtime.clock.now()
    clock = _clock(runtime, incident)
    return {
        "objectives": [o.as_dict() for o in measure(clock, now)],
        "checklist": [s.as_dict() for s in checklist_state(_happened(session, incident))],
    }


def _clock(runtime: Runtime, incident: Incident) -> IncidentClock:
    asked, approved = decision_moments((e.kind, e.at) for e in incident.events)
    service = runtime.config.services.get(incident.service)
    return IncidentClock(
        detected_at=incident.detected_at,
        rto_s=incident.rto_s,
        impact_started_at=incident.impact_started_at,
        decision_asked=asked,
        decided_at=approved,
        recovered_at=incident.recovered_at,
        resolved_at=incident.resolved_at,
        monitor_s=service.monitor.total_seconds() if service is not None else None,
        data_loss_s=incident.rpo_s,
        rpo_objective_s=incident.rpo_objective_s,
    )


def _happened(session: Session, incident: Incident) -> list[Happened]:
    """The incident's timeline, and the steps of its runs that succeeded."""
    happened = [
        Happened(e.kind, e.at, e.actor, item=confirmed_item(e.evidence)) for e in incident.events
    ]
    steps = session.execute(
        select(Step.kind, Step.finished_at, Run.actor)
        .join(Run, Run.id == Step.run_id)
        .where(Run.incident_id == incident.id, Step.state == StepState.SUCCEEDED)
    )
    happened += [
        Happened(kind, finished, actor, is_step=True)
        for kind, finished, actor in steps
        if finished is not None
    ]
    return happened


def _refuse_while_running(session: Session, incident: Incident) -> None:
    running = session.scalars(
        select(Run.id).where(Run.incident_id == incident.id, Run.state.not_in(TERMINAL))
    ).first()
    if running is not None:
        raise RefusedError(
            f"incident {incident.id} cannot be resolved while run {running} is unfinished",
            hint=f"let it end, or stop it: backout abort {running} --reason ...",
        )


def _bounded(text: str) -> str:
    """A note or a reason as stored: not blank, and within MAX_NOTE_CHARS."""
    text = text.strip()
    if not text:
        raise RefusedError("the text is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise RefusedError(f"the text is {len(text):,} characters; at most {MAX_NOTE_CHARS:,}")
    return text
