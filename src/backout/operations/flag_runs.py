"""Feature-flag changes that run as plans through the executor: a gradual ramp-down of one
flag, and "flag first" (a service's guarded_by flags off before any rollback)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout.config import ServiceConfig
from backout.errors import RefusedError
from backout.flags import Flag
from backout.incidents import open_incident, open_incident_for
from backout.plans import OnTrigger, Plan, flag_first_plan, ramp_down_plan
from backout.plans.feature_flag import FLAG_PLAN, check_stages, stage_label
from backout.runs.records import StepState, get_run
from backout.runs.start import NewRun, RunHandle, start_run
from backout.runs.storing import IncidentOpener
from backout.runtime import Runtime
from backout.steps.flags import CUT_SHORT
from backout.store import Incident, Run, Step
from backout.subjects import Subject

FLAG_FIRST_HOLD_CAP_S = 300.0


@dataclass(frozen=True)
class RampDown:
    """`backout flags ramp-down KEY`: lower KEY's exposure stage by stage to 0, then mark it."""

    key: str
    stages: tuple[int, ...]
    hold_s: float
    on_trigger: OnTrigger = OnTrigger.ZERO
    approval_gate: bool = False
    reason: str = "gradual flag rollback"

    def describe(self) -> str:
        """'waitlist down: 50 % → 0 % (off)'."""
        ramp = " → ".join(stage_label(p) for p in self.stages)
        return f"{self.key} down: {ramp}"


@dataclass(frozen=True)
class RampDownReport:
    """Where a ramp-down left its flag, and why it ended early if it did."""

    flag: Flag
    incident_id: int | None
    cut_short: str | None


def exposure_percent(flag: Flag) -> int:
    """The percent of users who get the flag now: 0 when off, 100 when on with no rollout."""
    if not flag.enabled:
        return 0
    return 100 if flag.rollout is None else flag.rollout


def plan_ramp_down(runtime: Runtime, request: RampDown) -> Plan:
    """The ramp-down plan; read-only. Refuses stages that do not fall to 0, an unknown flag, a
    flag already off, and a first stage that would raise the flag's exposure."""
    check_stages(request.stages)
    flag = runtime.flags().flag(request.key)
    now = exposure_percent(flag)
    if now == 0:
        raise RefusedError(f"flag {request.key} is off already: there is nothing to ramp down")
    if request.stages[0] > now:
        raise RefusedError(
            f"stage {request.stages[0]} % would raise {request.key} ({flag.exposure()}): "
            "a ramp-down only lowers a flag",
            hint=f"start at or below {now}, e.g. --stages {now // 2},0",
        )
    return ramp_down_plan(
        request.key,
        request.stages,
        hold_s=request.hold_s,
        on_trigger=request.on_trigger,
        services=runtime.config.services_guarded_by(request.key),
        approval_gate=request.approval_gate,
        reason=request.reason,
    )


def start_ramp_down(
    runtime: Runtime, request: RampDown, *, actor: str, plan: Plan | None = None
) -> RunHandle:
    """Store the ramp-down (the previewed `plan`, else planned now) as a run holding the flag's
    lock (`flag:KEY`), inside an incident."""
    chosen = plan if plan is not None else plan_ramp_down(runtime, request)
    opener = _incident_opener(runtime, actor, request)
    return start_run(
        runtime, NewRun(chosen, actor=actor, reason=request.reason, open_incident=opener)
    )


def _incident_opener(runtime: Runtime, actor: str, request: RampDown) -> IncidentOpener:
    """Join the newest open incident of a service the flag guards (or of the flag itself);
    else open one under the first such service, or under `flag:KEY` when it guards none."""
    services = runtime.config.services_guarded_by(request.key)

    def incident_for(session: Session, run: Run) -> int:
        env = runtime.environment
        subjects = [*services, Subject.flag(request.key).key]
        found = [open_incident_for(session, env, subject) for subject in subjects]
        joined = max((incident.id for incident in found if incident is not None), default=None)
        if joined is not None:
            return joined
        rtos = [runtime.config.rto_for(s).total_seconds() for s in services]
        incident = open_incident(
            session,
            environment=env,
            service=services[0] if services else Subject.flag(request.key).key,
            title=f"flag {request.key}: {request.reason}",
            trigger="manual",
            release_id=None,  # not the live release's incident: the watch loop keeps its own
            rto_s=min(rtos, default=runtime.config.objectives.rto.core.total_seconds()),
            detected_at=runtime.clock.now(),
            impact_started_at=None,
            actor=actor,
        )
        return incident.id

    return incident_for


def ramp_down_report(runtime: Runtime, run_id: int, key: str) -> RampDownReport:
    """The flag as the run left it, its incident, and the trigger that cut it short if any."""
    flag = runtime.flags().flag(key)
    with runtime.store.session() as session:
        run = get_run(session, run_id)
        return RampDownReport(flag, run.incident_id, cut_short_reason(session, run_id))


def cut_short_reason(session: Session, run_id: int) -> str | None:
    """Why a hold of the run turned its flags off before the last stage, if one did."""
    outputs = session.scalars(
        select(Step.output).where(Step.run_id == run_id, Step.kind == "flag_hold")
    )
    return next((str(o[CUT_SHORT]) for o in outputs if o and o.get(CUT_SHORT)), None)


def flag_first_hold_s(service: ServiceConfig) -> float:
    """How long flag first holds the flags off before calling the service mitigated.

    The service's monitoring window, capped at 5 minutes (the run holds the service's lock and
    the incident waits on it; the watch loop goes on watching afterwards), and never shorter
    than twice the longest trigger `for`, so that a breach the flags did not cure can fire.
    """
    longest = max((rule.hold.total_seconds() for rule in service.triggers), default=0.0)
    return max(min(service.monitor.total_seconds(), FLAG_FIRST_HOLD_CAP_S), 2 * longest)


def flags_still_on(runtime: Runtime, service: str) -> list[str]:
    """The service's guarded_by flags that are on; NotFoundError names an unknown one."""
    provider = runtime.flags()
    return [key for key in runtime.config.service(service).guarded_by if provider.flag(key).enabled]


def start_flag_first(
    runtime: Runtime,
    service: str,
    *,
    actor: str,
    reason: str,
    trigger: str | None,
    incident_id: int,
) -> RunHandle:
    """Store flag first for `service` as a run of the incident, holding the service's lock."""
    config = runtime.config.service(service)
    plan = flag_first_plan(
        service, list(config.guarded_by), hold_s=flag_first_hold_s(config), reason=reason
    )
    request = NewRun(plan, actor=actor, reason=reason, trigger=trigger, incident_id=incident_id)
    return start_run(runtime, request)


def flag_first_runs(session: Session, incident: Incident) -> list[Run]:
    """The flag-first runs of an incident (feature-flag runs of its own service), oldest first."""
    return list(
        session.scalars(
            select(Run)
            .where(
                Run.incident_id == incident.id,
                Run.kind == FLAG_PLAN,
                Run.service == incident.service,
            )
            .order_by(Run.id)
        )
    )


def failed_step_message(session: Session, run_id: int) -> str:
    """What the failed step of a run said (or the run's error)."""
    run = get_run(session, run_id)
    failed = next((s for s in run.steps if s.state == StepState.FAILED), None)
    return (failed.message if failed is not None else None) or run.error or str(run.state)
