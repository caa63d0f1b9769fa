"""Storing a run: the whole plan, the locks of its subjects, its incident and its lease, in one
transaction, before its first step runs (DESIGN.md, "Durable execution").

The locks are taken one by one in canonical order (runs/locks.py); a lock its run can no
longer free (the run ended, no process executes it) is cleared once, then the run is refused
naming the subject and its holder. A release plan made while another release was live than the
one live now is refused: the plan would act on the wrong release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backout import releases
from backout.audit import audit
from backout.errors import BackoutError, LockedError, RefusedError
from backout.incidents import EventKind, IncidentStatus, Mover, add_event, move_incident
from backout.plans import Plan
from backout.runs import locks
from backout.runs.records import (
    RELEASE_PLANS,
    RunState,
    StepState,
    get_run,
    run_is_executing,
    run_label,
    run_lease,
)
from backout.runtime import Runtime
from backout.store import Incident, Run, RunSubject, Step
from backout.store.leases import acquire, this_process
from backout.subjects import SubjectKind

IncidentOpener = Callable[[Session, Run], int]


@dataclass(frozen=True)
class NewRun:
    """A plan to store as a run: the previewed plan itself, never planned again."""

    plan: Plan
    actor: str
    reason: str
    trigger: str | None = None
    incident_id: int | None = None
    # With no incident_id: opens (or joins) the incident inside the run's own transaction, once
    # the locks are held, so a refused run leaves no incident behind.
    open_incident: IncidentOpener | None = None


def store_run(runtime: Runtime, request: NewRun) -> int:
    """Store the run, the locks of its subjects, its incident and all its steps in one
    transaction.

    `open_incident` (used when no `incident_id` is given) runs inside that transaction once
    the locks are held, so a refused run never leaves an incident behind.
    """
    for attempt in (1, 2):
        try:
            return _insert_run(runtime, request)
        except IntegrityError:
            if attempt == 2 or not _clear_stale_locks(runtime, request.plan):
                raise _locked(runtime, request.plan) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _insert_run(runtime: Runtime, request: NewRun) -> int:
    plan, incident_id = request.plan, request.incident_id
    with runtime.store.session() as session:
        run = _new_run(session, runtime, request)
        locks.take(session, run.environment, run.id, plan.subjects())
        if plan.kind in RELEASE_PLANS:  # checked under the locks: no deploy can slip in now
            _refuse_if_moved_on(session, run.environment, plan)
        if incident_id is None and request.open_incident is not None:
            incident_id = request.open_incident(session, run)
        run.incident_id = incident_id
        _store_steps(session, run, request)
        return run.id


def _locked(runtime: Runtime, plan: Plan) -> BackoutError:
    with runtime.store.session() as session:
        held = locks.first_held(session, runtime.environment, plan.subjects())
        if held is None:  # released between our insert and this read: a real race
            return RefusedError(f"could not lock {plan.label}; try again")
        subject, run_id = held
        going = get_run(session, run_id).state in (RunState.PLANNED, RunState.RUNNING)
        orphaned = going and not run_is_executing(session, run_id)
    return LockedError(subject.described, run_id, orphaned=orphaned)


def _clear_stale_locks(runtime: Runtime, plan: Plan) -> bool:
    """Free the locks of `plan`'s subjects that their runs can no longer free."""
    env = runtime.environment
    with runtime.store.session() as session:
        cleared = [locks.clear_stale(session, env, subject) for subject in plan.subjects()]
    return any(cleared)


def _new_run(session: Session, runtime: Runtime, request: NewRun) -> Run:
    plan, env = request.plan, runtime.environment
    target = source = None
    if plan.kind in RELEASE_PLANS and len(plan.targets) == 1:
        service = plan.subject.name
        target = releases.find(session, env, service, plan.target_version)
        if plan.from_version:
            source = releases.find(session, env, service, plan.from_version)
    run = Run(
        environment=env,
        kind=plan.kind,
        service=plan.subject.key,
        from_release_id=source.id if source else None,
        target_release_id=target.id if target else None,
        target=plan.target_version,
        reason=request.reason,
        trigger=request.trigger,
        state=RunState.PLANNED,
        actor=request.actor,
        owner=this_process(),
    )
    session.add(run)
    session.flush()
    for position, planned in enumerate(plan.targets, start=1):
        session.add(
            RunSubject(
                run_id=run.id,
                position=position,
                subject_kind=planned.subject.kind.value,
                subject_name=planned.subject.name,
                from_version=planned.from_version,
                target_version=planned.to_version,
            )
        )
    # Leased from birth, so a controller looking for orphans leaves a run alone between
    # its creation and its first step; a creator that dies frees it.
    lease_s = runtime.config.state.lease.total_seconds()
    acquire(session, run_lease(run.id), this_process(), lease_s)
    return run


def _store_steps(session: Session, run: Run, request: NewRun) -> None:
    plan, actor = request.plan, request.actor
    for position, spec in enumerate(plan.steps, start=1):
        acts_on = plan.subject_of(spec)
        session.add(
            Step(
                run_id=run.id,
                position=position,
                kind=spec.kind,
                title=spec.title,
                subject_kind=acts_on.kind.value,
                subject_name=acts_on.name,
                params=spec.params,
                state=StepState.PENDING,
            )
        )
    audit(session, actor, f"run.{plan.kind}.planned", plan.subject.key, run_id=run.id)
    if run.incident_id is not None:
        planned = (
            f"{run_label(plan.kind)} of {plan.aims} planned "
            f"as run {run.id} ({len(plan.steps)} steps): {request.reason}"
        )
        add_event(
            session, run.incident_id, EventKind.RUN_PLANNED, planned, actor=actor, run_id=run.id
        )
        _identified(session, run, f"{run_label(plan.kind)} planned as run {run.id}", actor)


def _identified(session: Session, run: Run, reason: str, actor: str) -> None:
    """A run planned on an incident means its cause is identified (what the run acts on)."""
    incident = session.get(Incident, run.incident_id)
    if incident is not None:
        move_incident(
            session,
            incident,
            IncidentStatus.IDENTIFIED,
            by=Mover.BACKOUT,
            actor=actor,
            reason=reason,
            run_id=run.id,
        )


def _refuse_if_moved_on(session: Session, environment: str, plan: Plan) -> None:
    """A release plan is made for the release live when it was previewed; another one may have
    gone live before it was confirmed, and the plan would then act on the wrong release."""
    for target in plan.targets:
        if target.subject.kind is not SubjectKind.SERVICE:
            continue
        service = target.subject.name
        live = releases.live(session, environment, service)
        now = live.version if live is not None else None
        then = target.live_when_planned
        if now != then:
            raise RefusedError(
                f"the plan was made while {then or 'no release'} of {service} was live; "
                f"{now or 'none'} is live now: nothing was changed",
                hint="look at it again (backout status), then plan it again",
            )
