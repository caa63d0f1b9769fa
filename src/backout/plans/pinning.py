"""The pin step of a plan: a rolled-back release pinned, a forced redeploy unpinned."""

from __future__ import annotations

from dataclasses import replace

from backout.plans.base import Plan, StepSpec


def with_pin(plan: Plan, *, reason: str) -> Plan:
    """`plan` with a pin step after each step that marks a release rolled back."""
    steps: list[StepSpec] = []
    for spec in plan.steps:
        steps.append(spec)
        if spec.kind == "mark_release" and spec.params.get("status") == "rolled_back":
            version = spec.params["version"]
            steps.append(
                StepSpec(
                    "pin_release",
                    f"Pin {version} in the deploy repository",
                    {"version": version, "pinned": True, "reason": reason},
                    subject=plan.subject_of(spec),
                )
            )
    return replace(plan, steps=steps)


def with_unpin(plan: Plan, *, version: str, reason: str) -> Plan:
    """`plan` that first lifts the pin of `version`, deployed again on purpose."""
    unpin = StepSpec(
        "pin_release",
        f"Unpin {version} in the deploy repository",
        {"version": version, "pinned": False, "reason": reason},
        subject=plan.subject,
    )
    return replace(plan, steps=[unpin, *plan.steps])
