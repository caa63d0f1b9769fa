"""Keep a service's triggers armed for a while: shared by traffic holds and the monitor step."""

from __future__ import annotations

from backout import releases
from backout.errors import StepFailedError
from backout.incidents import EventKind, IncidentStatus, add_event
from backout.metrics import TriggerEvaluator
from backout.steps.base import StepContext
from backout.store import Incident

POLL_S = 0.1


def hold_and_watch(ctx: StepContext, seconds: float, *, baseline_version: str, what: str) -> str:
    """Watch the triggers for `seconds` (from now); raise StepFailedError if one fires.

    Only samples taken from now on count, so errors from before the rollback cannot fire it.
    Returns a one-line summary of what was seen.
    """
    runtime = ctx.runtime
    source = runtime.metrics(ctx.service)
    if source is None:
        return "no probe configured"
    service = runtime.config.service(ctx.service)
    with runtime.store.session() as session:
        release = releases.find(session, runtime.environment, ctx.service, baseline_version)
        baseline = release.baseline
    evaluator = TriggerEvaluator(service.triggers, runtime.clock.monotonic)
    since = runtime.clock.now().timestamp()
    end = runtime.clock.monotonic() + min(seconds, ctx.remaining())
    while True:
        snapshot = source.snapshot(since=since)
        for verdict in evaluator.evaluate(snapshot, baseline):
            if verdict.firing:
                message = f"trigger {verdict.rule.name} fired during {what}: {verdict.sentence()}"
                _reopen_incident(ctx, message)
                raise StepFailedError(message)
        if runtime.clock.monotonic() >= end:
            if snapshot.samples == 0 and seconds > 0:
                raise StepFailedError(f"the probe took no samples during {what}: nothing watched")
            return snapshot.summary()
        runtime.clock.sleep(POLL_S)


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
