"""Several services rolled back in one run, one incident, one timeline (`backout rollback A B`,
`--all`), in the order their `depends_on` gives (plans/several.py says which order and why).

A service with nothing to roll back (its live release is its last known good, or nothing was
ever deployed) is left as it is and said so; the others go on. When the run ends, each service
is in a state the report names: rolled back, untouched, stopped part-way, or failed with why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from backout import releases
from backout.errors import NotFoundError, NothingToRollBackToError, RefusedError
from backout.incidents import open_incident, open_incident_for
from backout.operations.rollback import RollbackRequest, plan_rollback
from backout.plans import Plan, StepSpec
from backout.plans.several import FULL_PLAN, several_services_plan
from backout.releases import ReleaseStatus
from backout.runs.records import StepState, get_run, step_subject
from backout.runs.start import NewRun, RunHandle, start_run
from backout.runtime import Runtime
from backout.store import Run
from backout.subjects import Subject, SubjectKind


@dataclass(frozen=True)
class SeveralRollback:
    """The plan of a several-service rollback, and the services it leaves as they are."""

    plan: Plan
    untouched: dict[str, str]  # service → why nothing is done to it
    reason: str

    @property
    def services(self) -> list[str]:
        """The services among the plan's targets (a full rollback has other subjects too)."""
        return [
            target.subject.name
            for target in self.plan.targets
            if target.subject.kind is SubjectKind.SERVICE
        ]


@dataclass(frozen=True)
class ServiceOutcome:
    service: str
    state: str  # rolled_back | untouched | part_way | failed
    detail: str


def plan_several(
    runtime: Runtime, services: list[str] | None, *, reason: str, approval_gate: bool = False
) -> SeveralRollback:
    """The one plan for `services`; read-only. None means every service whose live release
    is not known good (`--all`): a service running its last known good is left alone."""
    plans, untouched = service_rollback_plans(runtime, services, reason=reason)
    if not plans:
        said = "; ".join(f"{name}: {why}" for name, why in untouched.items())
        raise RefusedError(f"no service has anything to roll back ({said})")
    plan = several_services_plan(plans)
    if approval_gate:
        plan = with_one_gate(plan, reason)
    return SeveralRollback(plan, untouched, reason)


def service_rollback_plans(
    runtime: Runtime, services: list[str] | None, *, reason: str
) -> tuple[list[Plan], dict[str, str]]:
    """Each service's application plan, dependencies first, and the services left alone with
    why; None means every service (those live and good are left alone). Read-only."""
    names = list(runtime.config.services) if services is None else services
    for name in names:
        runtime.config.service(name)  # an unknown name is refused before anything is planned
    plans: list[Plan] = []
    untouched = _live_and_good(runtime, names) if services is None else {}
    for name in runtime.config.dependency_order(names):
        if name in untouched:
            continue
        request = RollbackRequest(name, reason=reason)
        try:
            plans.append(plan_rollback(runtime, request))
        except (NotFoundError, NothingToRollBackToError) as nothing:  # none deployed, or good
            untouched[name] = nothing.message
    return plans, untouched


def with_one_gate(plan: Plan, reason: str) -> Plan:
    """`plan` behind one approval gate for the whole run, before anything."""
    params = {"role": "approver", "question": f"roll {plan.label} back? ({reason})"}
    gate = StepSpec("approve", "Approval by the incident commander", params)
    return Plan(plan.kind, plan.targets, [gate, *plan.steps])


def _live_and_good(runtime: Runtime, names: list[str]) -> dict[str, str]:
    with runtime.store.session() as session:
        live = {name: releases.live(session, runtime.environment, name) for name in names}
    return {
        name: f"{release.version} is live and good: nothing to roll back"
        for name, release in live.items()
        if release is not None and release.status == ReleaseStatus.GOOD
    }


def start_several(
    runtime: Runtime,
    preview: SeveralRollback,
    *,
    actor: str,
    trigger: str | None = None,
) -> RunHandle:
    """Store the previewed plan as one run holding every service's lock, in one incident."""

    def incident_for(session: Session, run: Run) -> int:
        return _shared_incident(runtime, session, preview, actor=actor, trigger=trigger)

    request = NewRun(
        preview.plan,
        actor=actor,
        reason=preview.reason,
        trigger=trigger,
        open_incident=incident_for,
    )
    return start_run(runtime, request)


def _shared_incident(
    runtime: Runtime,
    session: Session,
    preview: SeveralRollback,
    *,
    actor: str,
    trigger: str | None,
) -> int:
    """The open incident of the first service that has one; else one opened for them all."""
    env = runtime.environment
    for name in preview.services:
        found = open_incident_for(session, env, name)
        if found is not None:
            return found.id
    full = preview.plan.kind == FULL_PLAN
    incident = open_incident(
        session,
        environment=env,
        service=preview.services[0] if preview.services else preview.plan.subject.key,
        title=f"{preview.plan.label}: {preview.reason}",
        trigger=trigger or "manual",
        release_id=None,
        rto_s=(
            runtime.config.objectives.rto.full_system.total_seconds()
            if full
            else min(runtime.config.rto_for(n).total_seconds() for n in preview.services)
        ),
        detected_at=runtime.clock.now(),
        impact_started_at=None,
        actor=actor,
    )
    return incident.id


def service_outcomes(runtime: Runtime, run_id: int) -> list[ServiceOutcome]:
    """Where the run left each of its subjects, in the plan's order (services by their bare
    name, anything else as `kind:name`)."""
    with runtime.store.session() as session:
        run = get_run(session, run_id)
        return [
            _outcome(run, Subject(SubjectKind(t.subject_kind), t.subject_name), t.target_version)
            for t in run.subjects
        ]


def _outcome(run: Run, subject: Subject, to_version: str | None) -> ServiceOutcome:
    mine = [s for s in run.steps if step_subject(run, s) == subject]
    name = subject.key
    failed = next((s for s in mine if s.state == StepState.FAILED), None)
    if failed is not None:
        return ServiceOutcome(name, "failed", f"step {failed.position} failed: {failed.message}")
    done = [s for s in mine if s.state in (StepState.SUCCEEDED, StepState.SKIPPED)]
    if mine and len(done) == len(mine):
        return ServiceOutcome(name, "rolled_back", f"rolled back to {to_version}")
    if not any(s.attempts for s in mine):
        return ServiceOutcome(name, "untouched", "nothing was done to it")
    kinds = [s.kind for s in done]
    detail = f"stopped part-way (done: {', '.join(kinds) or 'nothing'})"
    if "drain" in kinds and "restore_traffic" not in kinds:
        detail += "; its traffic is stopped: restore it, or roll it back again"
    return ServiceOutcome(name, "part_way", detail)
