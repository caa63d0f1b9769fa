"""The approval gate: the run waits here until a person with the right role approves."""

from __future__ import annotations

from typing import Any, ClassVar

from backout.errors import AwaitingApprovalError
from backout.steps.base import StepContext, StepOutcome


class Approve:
    kind: ClassVar[str] = "approve"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        outcome = self.observe(ctx, params)
        if outcome is None:
            raise AwaitingApprovalError(
                f"run {ctx.run_id} waits for approval: {params.get('question', 'proceed?')}",
                hint=f"backout approve {ctx.run_id} (needs role {params.get('role', 'approver')})",
            )
        return outcome

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        approved_by = ctx.recorded_output.get("approved_by")
        if approved_by is None:
            return None
        return StepOutcome.done(f"approved by {approved_by}", **ctx.recorded_output)
