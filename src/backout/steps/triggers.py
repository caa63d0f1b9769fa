"""Keep a service's triggers armed for a while: the traffic holds and the monitor step."""

from __future__ import annotations

from backout import triggers
from backout.errors import StepFailedError
from backout.incidents import EventKind, Evidence, IncidentStatus, Mover, add_event, move_incident
from backout.steps.base import StepContext
from backout.store import Incident


def hold_and_watch(ctx: StepContext, seconds: float, *, what: str) -> str:
    """Watch the triggers for `seconds` (from now); raise StepFailedError if one fires.

    Only samples taken from now on count, so errors from before the rollback cannot fire it.
    Returns a one-line summary of what was seen.
    """
    held = triggers.hold(ctx.runtime, [ctx.service], min(seconds, ctx.remaining()))
    if held.fired is not None:
        verdict = held.fired.firing[0]
        message = f"trigger {verdict.rule.name} fired during {what}: {verdict.sentence()}"
        _on_incident(ctx, EventKind.REOPENED, message, _evidence(held.fired), reopen=True)
        raise StepFailedError(message)
    if not held.watched:
        return "no metric source configured"
    if held.idle and seconds > 0:
        raise StepFailedError(f"the metric source took no samples during {what}: nothing watched")
    summary = held.last[0].snapshot.summary()
    quiet = f"no trigger fired in {seconds:g}s of {what} ({summary})"
    _on_incident(ctx, EventKind.HELD, quiet, _evidence(*held.last))
    return summary


def _evidence(*readings: triggers.Reading) -> Evidence:
    return [verdict.evidence() for reading in readings for verdict in reading.verdicts]


def _on_incident(
    ctx: StepContext, kind: EventKind, message: str, evidence: Evidence, *, reopen: bool = False
) -> None:
    """A line with its evidence on the run's incident (reopened, when a trigger fired)."""
    if ctx.incident_id is None:
        return
    with ctx.runtime.store.session() as session:
        incident = session.get(Incident, ctx.incident_id)
        if incident is not None:
            add_event(
                session,
                incident.id,
                kind,
                message,
                actor=ctx.actor,  # as every other line of the run: who runs it
                run_id=ctx.run_id,
                evidence=evidence,
            )
            if reopen:
                back = IncidentStatus.INVESTIGATING
                move_incident(
                    session, incident, back, by=Mover.REOPEN, actor=ctx.actor, reason=message
                )
