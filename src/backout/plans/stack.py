"""The infrastructure stack plan: apply the previous variables again, behind an approved plan.

    plan the previous variables (the plan is shown: step output and the gate's question)
    → approval: a person reads the plan and approves it (skipped when it changes nothing)
    → apply exactly the approved plan → plan again until it shows no change, read the
    outputs, record the variables applied again and the ones replaced rolled back

Every step acts on the subject `stack:NAME`, so a full-environment run can take them as they
are (`stack_rollback_steps`) beside its other subjects' steps.
"""

from __future__ import annotations

from typing import Any

from backout.plans.base import StepSpec, Target
from backout.subjects import Subject

STACK_PLAN = "stack"


def stack_rollback_target(name: str, from_version: str | None, to_version: str) -> Target:
    return Target(Subject.stack(name), from_version, to_version)


def stack_rollback_steps(
    name: str,
    variables: dict[str, Any],
    *,
    from_version: str | None,
    to_version: str,
    reason: str,
) -> list[StepSpec]:
    """Apply `variables` (the recorded release `to_version`) to stack `name` again."""
    subject = Subject.stack(name)
    params = {
        "stack": name,
        "variables": variables,
        "from_version": from_version,
        "to_version": to_version,
        "reason": reason,
    }
    gate = {
        "role": "approver",
        "question": f"apply this plan to stack {name} (back to {to_version})? ({reason})",
        "shows": "stack_plan",
    }
    return [
        StepSpec("stack_plan", f"Plan stack {name} back to {to_version}", params, subject=subject),
        StepSpec("approve", f"Approval of the plan of stack {name}", gate, subject=subject),
        StepSpec(
            "stack_apply", f"Apply the approved plan to stack {name}", params, subject=subject
        ),
        StepSpec(
            "stack_verify",
            f"Check stack {name} matches {to_version}, read its outputs; record it applied",
            params,
            subject=subject,
        ),
    ]
