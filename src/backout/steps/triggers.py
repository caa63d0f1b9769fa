"""Keep a service's triggers armed for a while: the traffic holds and the monitor step."""

from __future__ import annotations

from backout import triggers
from backout.errors import StepFailedError
from backout.incidents import EventKind, IncidentStatus, add_event
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
        _reopen_incident(ctx, message)
        raise StepFailedError(message)
    if not held.watched:
        return "no metric source configured"
    if held.idle and seconds > 0:
        raise StepFailedError(f"the metric source took no samples during {what}: nothing watched")
    return held.last[0].snapshot.summary()


def _reopen_incident(ctx: StepContext, message: str) -> None:
    if ctx.incident_id is None:
        return
    with ctx.runtime.store.session() as session:
        incident = session.get(Incident, ctx.incident_id)
        if incident is not None:
            incident.status = IncidentStatus.INVESTIGATING
            add_event(
                session,
                incident.id,
                EventKind.REOPENED,
                message,
                actor="backout",
                run_id=ctx.run_id,
            )
