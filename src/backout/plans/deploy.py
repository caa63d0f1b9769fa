"""The deploy plan: put a release live through the driver, verify it, and record it live.

    deploy → health checks → mark live

or, with `two_slots` (the router routes traffic and the driver runs two versions side by side),
a switch that refuses no request, as a two-slot rollback does:

    deploy beside the live version (no traffic yet) → health checks → all traffic to it →
    stop traffic to the one it replaces (drain, then maintenance) → retire that one → mark live

Watching the new release is the watch loop's (its bake), not the deploy's: the switch is one
move, with no holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backout.config import ServiceConfig
from backout.plans.base import Plan, StepSpec
from backout.plans.slots import slot_retirement_steps
from backout.subjects import Subject

if TYPE_CHECKING:
    # Only annotated: a plan module must not import the ORM classes (`backout flags disable`
    # imports the plans room for its ramp-down options).
    from backout.store import Release


def deploy_plan(
    service_name: str,
    service: ServiceConfig,
    *,
    release: Release,
    current: Release | None,
    two_slots: bool = False,
) -> Plan:
    timeout = service.steps.timeout.total_seconds()
    version = release.version
    deploy_params = {"version": version, "ref": release.ref, "timeout_s": timeout}
    health = StepSpec(
        "health",
        "Health checks",
        {"version": version, "timeout_s": service.health_timeout.total_seconds()},
    )
    replaced = current.version if current is not None and current.version != version else None
    if two_slots:
        beside = f"beside {replaced}" if replaced else "in a slot"
        steps = [
            StepSpec("deploy_beside", f"Deploy {version} {beside}", deploy_params),
            health,
            StepSpec(
                "restore_traffic",
                f"All traffic to {version}",
                {"version": version, "stages": [100], "hold_s": 0.0, "timeout_s": timeout},
            ),
            *(slot_retirement_steps(replaced, timeout) if replaced else []),
        ]
    else:
        steps = [StepSpec("deploy", f"Deploy {version}", deploy_params), health]
    steps.append(
        StepSpec(
            "mark_release",
            f"Mark {release.version} live",
            {"version": release.version, "status": "live", "reason": None},
        )
    )
    live = current.version if current else None
    return Plan.single(
        "deploy",
        Subject.service(service_name),
        steps,
        from_version=live,
        to_version=release.version,
        live_when_planned=live,
    )
