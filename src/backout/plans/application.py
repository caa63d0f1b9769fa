"""The application rollback plan: the runbook's five steps, in its order.

    stop traffic → deploy previous → health checks → gradual traffic restore → monitor

or, with `two_slots` (the router routes traffic and the driver runs two versions side by side),
the order that never leaves nobody serving:

    deploy previous beside the bad one (no traffic yet) → health checks → gradual traffic
    restore (weights move from the bad one to the restored one) → stop traffic to the bad one
    (drain, then maintenance) → retire the bad one → monitor

with an approval gate first when the policy asks for one, a driver that keeps what it replaced
(docker) told to retire it once monitoring has passed, and the rolled-back release marked
last so it is never chosen as "last known good" — unless that verdict would leave the service
with no good release (a forced rollback from the last known good to an unproven one). A target
that is not good (put back with `--force`) is marked live, so the watch loop judges it afresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backout.config import ServiceConfig
from backout.durations import format_duration
from backout.plans.base import Plan, StepSpec
from backout.plans.slots import drain_step, slot_retirement_steps
from backout.subjects import Subject

if TYPE_CHECKING:
    # Only annotated: a plan module must not import the ORM classes (`backout flags disable`
    # imports the plans room for its ramp-down options).
    from backout.store import Release

_MARGIN_S = 30.0


def application_plan(
    service_name: str,
    service: ServiceConfig,
    *,
    target: Release,
    current: Release | None,
    approval_gate: bool,
    reason: str,
    mark_rolled_back: bool = True,
    two_slots: bool = False,
    keeps_replaced: bool = False,
) -> Plan:
    bad = current.version if current is not None and current.id != target.id else None
    step_timeout = service.steps.timeout.total_seconds()
    hold = service.traffic_hold.total_seconds()
    monitor_s = service.monitor.total_seconds()
    steps: list[StepSpec] = []
    if approval_gate:
        steps.append(
            StepSpec(
                "approve",
                "Approval by the incident commander",
                {
                    "role": "approver",
                    "question": f"roll {service_name} back to {target.version}? ({reason})",
                },
            )
        )
    deploy_params = {"version": target.version, "ref": target.ref, "timeout_s": step_timeout}
    health = StepSpec(
        "health",
        "Health checks",
        {"version": target.version, "timeout_s": service.health_timeout.total_seconds()},
    )
    restore = StepSpec(
        "restore_traffic",
        f"Gradual traffic restore to {target.version} "
        f"({' → '.join(f'{p}%' for p in service.traffic_restore)})",
        {
            "version": target.version,
            "stages": service.traffic_restore,
            "hold_s": hold,
            "timeout_s": hold * len(service.traffic_restore) + _MARGIN_S,
        },
    )
    monitor = StepSpec(
        "monitor",
        f"Monitor for {format_duration(service.monitor)}",
        {"version": target.version, "duration_s": monitor_s, "timeout_s": monitor_s + _MARGIN_S},
    )
    if two_slots:
        beside = StepSpec(
            "deploy_beside", f"Deploy previous version {target.version} beside {bad}", deploy_params
        )
        steps += [beside, health, restore, *slot_retirement_steps(bad, step_timeout), monitor]
    else:
        deploy = StepSpec("deploy", f"Deploy previous version {target.version}", deploy_params)
        steps += [drain_step(bad, step_timeout), deploy, health, restore, monitor]
    if keeps_replaced:
        steps.append(
            StepSpec(
                "retire_previous",
                "Retire what the deploy replaced (kept until now)",
                {"timeout_s": step_timeout},
            )
        )
    if bad is not None and mark_rolled_back:
        steps.append(
            StepSpec(
                "mark_release",
                f"Mark {bad} rolled back",
                {"version": bad, "status": "rolled_back", "reason": reason},
            )
        )
    # "good" is ReleaseStatus.GOOD (a StrEnum), not imported: see the TYPE_CHECKING note above.
    if target.status != "good":  # a person's forced choice: live again, judged afresh
        steps.append(
            StepSpec(
                "mark_release",
                f"Mark {target.version} live (it was {target.status})",
                {"version": target.version, "status": "live", "reason": reason},
            )
        )
    return Plan.single(
        "application",
        Subject.service(service_name),
        steps,
        from_version=bad,
        to_version=target.version,
        live_when_planned=current.version if current is not None else None,
    )
