"""Plan, start, approve, abort and resume rollbacks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from backout import releases
from backout.audit import audit
from backout.db.migrations import migration_adapter_for
from backout.drivers import RetireCapable
from backout.errors import (
    BackoutError,
    ForceRequiredError,
    NothingToRollBackToError,
    RefusedError,
)
from backout.incidents import EventKind, add_event, open_incident, open_incident_for
from backout.incidents.checklist import ChecklistItem, checklist_item, still_asked_at_gate
from backout.operations.deploy import switches_slots
from backout.operations.incidents import confirm_with_approval, find_incident
from backout.plans import Plan, application_plan
from backout.plans.database import schema_revert_steps
from backout.plans.pinning import with_pin
from backout.releases import ReleaseStatus
from backout.runs import locks
from backout.runs.records import (
    TERMINAL,
    RunResult,
    RunState,
    StepListener,
    StepState,
    get_run,
    run_is_executing,
    run_lease,
    unfinished_runs,
)
from backout.runs.start import NewRun, RunHandle, StoredRun, start_run
from backout.runtime import Runtime
from backout.store import Release, Run
from backout.store.leases import acquire, this_process


@dataclass(frozen=True)
class RollbackRequest:
    service: str
    to_version: str | None = None
    reason: str = "manual rollback"
    trigger: str | None = None
    approval_gate: bool = False
    incident_id: int | None = None
    force: bool = False  # a person insists: roll back to a release judged bad, or to the live one


def plan_rollback(runtime: Runtime, request: RollbackRequest) -> Plan:
    """The application plan for `request`; refuses an unknown service or version, and (unless
    forced) a target that was judged bad, rolled back or failed, or is the live release."""
    service = runtime.config.service(request.service)
    env = runtime.environment
    with runtime.store.session() as session:
        current = releases.live(session, env, request.service)
        if request.to_version is not None:
            target = releases.find(session, env, request.service, request.to_version)
            if not request.force:
                _refuse_target(session, target, current)
        else:
            target = _last_known_good_before(session, env, request.service, current)
        plan = application_plan(
            request.service,
            service,
            target=target,
            current=current,
            approval_gate=request.approval_gate,
            reason=request.reason,
            mark_rolled_back=not _would_lose_last_good(session, target, current),
            two_slots=(
                current is not None
                and switches_slots(runtime, request.service)
                and service.database is None
            ),
            keeps_replaced=isinstance(runtime.driver(request.service), RetireCapable),
        )
        expected_schema = target.schema_revision
    if runtime.config.pins is not None:
        plan = with_pin(plan, reason=request.reason)
    if service.database is None or expected_schema is None:
        return plan
    return _with_schema_revert(runtime, plan, service.database, expected_schema, request.reason)


def _with_schema_revert(
    runtime: Runtime, plan: Plan, database: str, revision: str, reason: str
) -> Plan:
    """When the target release expects an older schema, revert it right after traffic stops."""
    adapter = migration_adapter_for(runtime.config, database)
    if adapter.status().head == revision:
        return plan
    revert = adapter.revert_plan(revision)
    schema = schema_revert_steps(database, revert, reason=reason)
    # A data-loss gate goes first: nothing, not even draining traffic, waits on a person.
    gates = [step for step in schema if step.kind == "approve"]
    work = [step for step in schema if step.kind != "approve"]
    at = next(i for i, step in enumerate(plan.steps) if step.kind == "drain")
    steps = gates + plan.steps[: at + 1] + work + plan.steps[at + 1 :]
    return replace(plan, steps=steps)


def _last_known_good_before(
    session: Session, env: str, service: str, current: Release | None
) -> Release:
    """The rollback target when none is named; says so plainly when the live one is it."""
    other_than = current.version if current else None
    target = releases.last_known_good(session, env, service, other_than=other_than)
    if target is not None:
        return target
    if current is not None and current.status == ReleaseStatus.GOOD:
        raise NothingToRollBackToError(service, live_and_good=current.version)
    raise NothingToRollBackToError(service)


def _refuse_target(session: Session, target: Release, current: Release | None) -> None:
    """A person named the target: refuse one that would put back what was judged bad."""
    if current is not None and target.id == current.id:
        raise ForceRequiredError(
            f"{target.service} {target.version} is already live: there is nothing to roll "
            "back from",
            hint="name an older release with --to, or pass --force to deploy it again",
        )
    why = releases.why_not_live(session, target)
    if why is not None:
        raise ForceRequiredError(
            f"{why}; not rolling back to it",
            hint="name another release with --to, or pass --force if you mean this one",
        )


def _would_lose_last_good(session: Session, target: Release, current: Release | None) -> bool:
    """Whether marking `current` rolled back would leave the service no release marked good."""
    if current is None or current.status != ReleaseStatus.GOOD:
        return False
    if target.status == ReleaseStatus.GOOD:
        return False
    other = releases.last_known_good(
        session, current.environment, current.service, other_than=current.version
    )
    return other is None


def start_rollback(
    runtime: Runtime, request: RollbackRequest, *, actor: str, plan: Plan | None = None
) -> RunHandle:
    """Store the rollback as a run (taking the service lock) and link it to an incident.

    `plan` is the plan a person previewed and confirmed (`plan_rollback`); without one, the
    rollback is planned now (the watch loop, the API). A rollback always belongs to an
    incident: the trigger's, or the service's open one, or a new one opened in the run's own
    transaction, so a refused rollback opens none.
    """
    chosen = plan if plan is not None else plan_rollback(runtime, request)

    def incident_for(session: Session, run: Run) -> int:
        return _incident_for_manual_rollback(runtime, session, actor, request, chosen)

    return start_run(
        runtime,
        NewRun(
            chosen,
            actor=actor,
            reason=request.reason,
            trigger=request.trigger,
            incident_id=request.incident_id,
            open_incident=incident_for,
        ),
    )


def _incident_for_manual_rollback(
    runtime: Runtime, session: Session, actor: str, request: RollbackRequest, plan: Plan
) -> int:
    env = runtime.environment
    incident = open_incident_for(session, env, request.service)
    if incident is None:
        live = releases.live(session, env, request.service)
        subject = " ".join(filter(None, (request.service, plan.from_version)))
        incident = open_incident(
            session,
            environment=env,
            service=request.service,
            title=f"{subject}: {request.reason}",
            trigger=request.trigger or "manual",
            release_id=live.id if live else None,
            rto_s=runtime.config.rto_for(request.service).total_seconds(),
            detected_at=runtime.clock.now(),
            impact_started_at=None,
            actor=actor,
        )
    return incident.id


def approve_run(
    runtime: Runtime, run_id: int, actor: str, *, confirm: Sequence[str] = ()
) -> RunHandle:
    """Record an approval on the run's waiting gate; the handle carries the run on.
    `confirm` names checklist items the approver confirms with it (what the gate asked for:
    "communication_prepared"), recorded in the approval's transaction.

    The approving process owns the run from the approval on, so that a controller looking for
    orphaned runs leaves it to the handle; should this process die, the run is orphaned again.
    """
    items = [checklist_item(item_id) for item_id in dict.fromkeys(confirm)]  # unknown: refused
    with runtime.store.session() as session:
        run = get_run(session, run_id)
        gate = next(
            (s for s in run.steps if s.kind == "approve" and s.state == StepState.PENDING), None
        )
        if run.state != RunState.AWAITING_APPROVAL or gate is None:
            raise RefusedError(f"run {run_id} is not waiting for an approval (it is {run.state})")
        if items and run.incident_id is None:
            raise RefusedError(f"run {run_id} has no incident whose checklist items to confirm")
        gate.output = {"approved_by": actor, "approved_at": runtime.clock.now().isoformat()}
        run.state = RunState.PLANNED
        lease_s = runtime.config.state.lease.total_seconds()
        acquire(session, run_lease(run_id), this_process(), lease_s)
        audit(session, actor, "run.approved", run.service, run_id=run_id)
        if run.incident_id is not None:
            add_event(
                session,
                run.incident_id,
                EventKind.APPROVED,
                f"run {run_id} approved by {actor}",
                actor=actor,
                run_id=run_id,
            )
            incident = find_incident(session, run.incident_id)
            confirm_with_approval(session, incident, items, actor=actor)

    return start_run(runtime, StoredRun(run_id, actor))


def asked_at_the_gate(runtime: Runtime, run_id: int) -> list[ChecklistItem]:
    """The checklist items a run waiting at its gate asks the approver to confirm: those of the
    gate (incidents/checklist.py) its incident has not had confirmed yet."""
    with runtime.store.session() as session:
        run = get_run(session, run_id)
        if run.state != RunState.AWAITING_APPROVAL or run.incident_id is None:
            return []
        return still_asked_at_gate(session, run.incident_id)


def abort_run(runtime: Runtime, run_id: int, actor: str, reason: str) -> None:
    """Stop a run where it stands and free its service; steps already done stay done."""
    with runtime.store.session() as session:
        run = get_run(session, run_id)
        if run.state in TERMINAL:
            raise RefusedError(f"run {run_id} has already ended: {run.state}")
        run.state = RunState.ABORTED
        run.error = f"aborted by {actor}: {reason}"
        run.finished_at = runtime.clock.now()
        # A process still acting on the run frees the service when its step ends, not before:
        # until then a second rollback would act on the same service at the same time.
        if not run_is_executing(session, run_id):
            locks.release(session, run)
        audit(session, actor, "run.aborted", run.service, run_id=run_id, reason=reason)
        if run.incident_id is not None:
            add_event(
                session,
                run.incident_id,
                EventKind.RUN_ABORTED,
                run.error,
                actor=actor,
                run_id=run_id,
            )


def resume_all(
    runtime: Runtime, *, actor: str, on_step: StepListener | None = None
) -> list[RunResult]:
    """Finish every run a dead process left unfinished, oldest first."""
    with runtime.store.session() as session:
        run_ids = [run.id for run in unfinished_runs(session, runtime.environment)]
    results = []
    for run_id in run_ids:
        try:
            results.append(start_run(runtime, StoredRun(run_id, actor)).execute(on_step))
        except BackoutError as refused:  # taken by another process meanwhile: go on with the rest
            results.append(RunResult(run_id, RunState.FAILED, f"not resumed: {refused.message}"))
    return results
