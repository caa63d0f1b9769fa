"""The deploy plan: put a release live through the driver, verify it, and record it live."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backout.config import ServiceConfig
from backout.plans.base import Plan, StepSpec
from backout.subjects import Subject

if TYPE_CHECKING:
    # Only annotated: a plan module must not import the ORM classes (`backout flags disable`
    # imports the plans room for its ramp-down options).
    from backout.store import Release


def deploy_plan(
    service_name: str, service: ServiceConfig, *, release: Release, current: Release | None
) -> Plan:
    timeout = service.steps.timeout.total_seconds()
    steps = [
        StepSpec(
            "deploy",
            f"Deploy {release.version}",
            {"version": release.version, "ref": release.ref, "timeout_s": timeout},
        ),
        StepSpec(
            "health",
            "Health checks",
            {"version": release.version, "timeout_s": service.health_timeout.total_seconds()},
        ),
        StepSpec(
            "mark_release",
            f"Mark {release.version} live",
            {"version": release.version, "status": "live", "reason": None},
        ),
    ]
    live = current.version if current else None
    return Plan.single(
        "deploy",
        Subject.service(service_name),
        steps,
        from_version=live,
        to_version=release.version,
        live_when_planned=live,
    )
