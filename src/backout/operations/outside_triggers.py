"""Triggers from outside the watch loop: an Alertmanager alert, a security advisory.

`fire(runtime, trigger, actor=)` does for a service what the watch loop does when one of its
own triggers fires: opens (or joins) the service's incident with the trigger's category and
evidence, marks the live release bad, and answers by the category's policy — a rollback
(`rollback`), a rollback waiting at its approval gate (`approve`), the guarded flags turned off
first (`flag_first`), or the incident alone (`notify`). The run it starts is returned as a
handle, not executed: the API hands it to the controller, the CLI runs it in the foreground.

Idempotent: a trigger firing again while the service's incident is open and has a run joins
it (one timeline line), never a second run; an incident opened before a crash that kept its
run from starting gets its run now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout import releases
from backout.categories import IncidentCategory
from backout.errors import BackoutError, LockedError
from backout.incidents import EventKind, Evidence, add_event, open_incident, open_incident_for
from backout.operations.flag_runs import flags_still_on, start_flag_first
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.releases import ReleaseStatus
from backout.runs.start import RunHandle
from backout.runtime import Runtime
from backout.store import Incident, Release, Run


class Action(StrEnum):
    """What backout did about an outside trigger, one word (the API's and `--json`'s `action`)."""

    ROLLING_BACK = "rolling_back"  # a rollback run started
    AWAITING_APPROVAL = "awaiting_approval"  # a rollback run started behind its approval gate
    FLAG_FIRST = "flag_first"  # a run turning the guarded flags off started
    NOTIFIED = "notified"  # policy notify: the incident only
    JOINED = "joined"  # the open incident already has its run: one more line on it
    NO_ROLLBACK = "no_rollback"  # the policy asked for a rollback that could not start
    NOTHING_DEPLOYED = "nothing_deployed"  # no release to mark bad or roll back from
    NOT_AFFECTED = "not_affected"  # (security) the live release is not affected


@dataclass(frozen=True)
class OutsideTrigger:
    """One firing of an outside trigger for one service."""

    service: str
    category: IncidentCategory
    name: str  # the incident's `trigger` ("alertmanager:HighErrorRate", "security:CVE-...")
    summary: str  # what fired, after "SERVICE VERSION: " in the incident's title
    evidence: Evidence = field(default_factory=list)
    event: EventKind | None = None
    """The timeline line each firing adds, the first included (alerts: ALERT_FIRED); None: only
    a repeat adds one, TRIGGER_FIRED."""

    @property
    def repeat_event(self) -> EventKind:
        return self.event or EventKind.TRIGGER_FIRED


@dataclass(frozen=True)
class TriggerOutcome:
    """What was done, as one sentence and the ids a caller follows up with."""

    action: Action
    sentence: str
    incident_id: int | None = None
    run_id: int | None = None
    handle: RunHandle | None = None  # the run to execute (foreground or background)
    refused: BackoutError | None = None  # why the policy's run could not start


def fire(runtime: Runtime, trigger: OutsideTrigger, *, actor: str) -> TriggerOutcome:
    """Open or join `trigger.service`'s incident and answer by its category's policy."""
    name = trigger.service
    policy = runtime.config.service(name).policy_for(trigger.category)
    with runtime.store.session() as session:
        live = releases.live(session, runtime.environment, name)
        what = f"{name} {live.version if live else '(nothing deployed)'}: {trigger.summary}"
        incident = open_incident_for(session, runtime.environment, name)
        if incident is not None and (policy == "notify" or _has_run(session, incident.id)):
            _line(session, incident.id, trigger.repeat_event, trigger, what=what, actor=actor)
            return TriggerOutcome(
                Action.JOINED,
                f"{what}: joined incident {incident.id}, which is in hand already",
                incident.id,
            )
        if incident is None:
            incident = _open(runtime, session, trigger, live, what=what, actor=actor)
            if trigger.event is not None:
                _line(session, incident.id, trigger.event, trigger, what=what, actor=actor)
        else:  # open, but its run never started (a crash in between, a refusal): start it now
            _line(session, incident.id, trigger.repeat_event, trigger, what=what, actor=actor)
        incident_id = incident.id
        if live is not None:
            _mark_bad(live, what, runtime)
    if live is None:
        return TriggerOutcome(
            Action.NOTHING_DEPLOYED,
            f"{what}: incident {incident_id} opened; nothing is deployed to roll back",
            incident_id,
        )
    if policy == "notify":
        return TriggerOutcome(
            Action.NOTIFIED,
            f"{what}: incident {incident_id} opened; policy is notify, not rolling back",
            incident_id,
        )
    if policy == "flag_first" and (
        outcome := _flag_first(runtime, trigger, what, incident_id, actor)
    ):
        return outcome
    return _roll_back(runtime, trigger, what, incident_id, actor, gate=policy == "approve")


def _open(
    runtime: Runtime,
    session: Session,
    trigger: OutsideTrigger,
    live: Release | None,
    *,
    what: str,
    actor: str,
) -> Incident:
    return open_incident(
        session,
        environment=runtime.environment,
        service=trigger.service,
        title=what,
        trigger=trigger.name,
        release_id=live.id if live else None,
        rto_s=runtime.config.rto_for(trigger.service).total_seconds(),
        detected_at=runtime.clock.now(),
        impact_started_at=live.live_at if live else None,
        actor=actor,
        category=trigger.category,
        evidence=trigger.evidence,
    )


def _line(
    session: Session,
    incident_id: int,
    kind: EventKind,
    trigger: OutsideTrigger,
    *,
    what: str,
    actor: str,
) -> None:
    add_event(session, incident_id, kind, what, actor=actor, evidence=trigger.evidence)


def _mark_bad(live: Release, what: str, runtime: Runtime) -> None:
    if live.status != ReleaseStatus.BAD:
        releases.mark(live, ReleaseStatus.BAD, reason=what, at=runtime.clock.now())


def _roll_back(
    runtime: Runtime,
    trigger: OutsideTrigger,
    what: str,
    incident_id: int,
    actor: str,
    *,
    gate: bool,
) -> TriggerOutcome:
    request = RollbackRequest(
        service=trigger.service,
        reason=f"{trigger.name}: {trigger.summary}",
        trigger=trigger.name,
        approval_gate=gate,
        incident_id=incident_id,
    )
    try:
        handle = start_rollback(runtime, request, actor=actor)
    except LockedError as locked:
        if _run_of(runtime, locked.holder_run_id) == incident_id:  # a twin delivery's run
            sentence = f"{what}: joined incident {incident_id}, rolling back in run"
            return TriggerOutcome(Action.JOINED, f"{sentence} {locked.holder_run_id}", incident_id)
        return _no_rollback(what, incident_id, locked)
    except BackoutError as error:
        return _no_rollback(what, incident_id, error)
    after = " after approval" if gate else ""
    return TriggerOutcome(
        Action.AWAITING_APPROVAL if gate else Action.ROLLING_BACK,
        f"{what}: rolling back{after} (run {handle.run_id}, incident {incident_id})",
        incident_id,
        handle.run_id,
        handle,
    )


def _no_rollback(what: str, incident_id: int, error: BackoutError) -> TriggerOutcome:
    return TriggerOutcome(
        Action.NO_ROLLBACK,
        f"{what}: incident {incident_id} opened, but no rollback: {error.message}",
        incident_id,
        refused=error,
    )


def _run_of(runtime: Runtime, run_id: int) -> int | None:
    """The incident of run `run_id`, if any."""
    with runtime.store.session() as session:
        run = session.get(Run, run_id)
        return run.incident_id if run is not None else None


def _flag_first(
    runtime: Runtime, trigger: OutsideTrigger, what: str, incident_id: int, actor: str
) -> TriggerOutcome | None:
    """Turn the guarded flags off first; None (roll back instead) when none is on or the flag
    service cannot be read — as the watch loop does."""
    try:
        still_on = flags_still_on(runtime, trigger.service)
        if not still_on:
            return None
        handle = start_flag_first(
            runtime,
            trigger.service,
            actor=actor,
            reason=f"{trigger.name}: {trigger.summary}",
            trigger=trigger.name,
            incident_id=incident_id,
        )
    except BackoutError:
        return None
    return TriggerOutcome(
        Action.FLAG_FIRST,
        f"{what}: flag first: turning off {', '.join(still_on)} "
        f"(run {handle.run_id}, incident {incident_id})",
        incident_id,
        handle.run_id,
        handle,
    )


def _has_run(session: Session, incident_id: int) -> bool:
    return session.scalars(select(Run.id).where(Run.incident_id == incident_id)).first() is not None
