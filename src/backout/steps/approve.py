"""The approval gate: the run waits here until a person with the right role approves.

The gate also asks for what the runbook's checklist wants a person to confirm before the
rollback acts ("User communication prepared"): the items still open are named in its message
(the `awaiting_approval` line), and the approver confirms them with the approval
(`backout approve RUN --confirm ITEM`).

A gate may show what it asks to approve: with `shows: KIND` in its params, the output of the
earlier step of that kind on its subject (a Terraform plan, `stack_plan`) ends its message, and
the gate is skipped when that step found nothing to change.
"""

from __future__ import annotations

from typing import Any, ClassVar

from backout.errors import AwaitingApprovalError
from backout.incidents.checklist import ChecklistItem, still_asked_at_gate
from backout.steps.base import StepContext, StepOutcome

_SHOWN_CHARS = 6_000  # of what the gate shows (a Terraform plan) in its message


class Approve:
    kind: ClassVar[str] = "approve"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        shown = ctx.find_output(params["shows"]) if "shows" in params else None
        if shown is not None and shown.get("changes") is False:
            return StepOutcome.skipped(f"nothing to approve: {shown.get('summary', 'no changes')}")
        outcome = self.observe(ctx, params)
        if outcome is None:
            asked = open_at_gate(ctx)
            confirm = "".join(f" --confirm {item.id}" for item in asked)
            raise AwaitingApprovalError(
                f"run {ctx.run_id} waits for approval: {params.get('question', 'proceed?')}"
                + _asking(asked)
                + _showing(shown, ctx.run_id),
                hint=f"backout approve {ctx.run_id}{confirm} "
                f"(needs role {params.get('role', 'approver')})",
            )
        return outcome

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        approved_by = ctx.recorded_output.get("approved_by")
        if approved_by is None:
            return None
        return StepOutcome.done(f"approved by {approved_by}", **ctx.recorded_output)


def open_at_gate(ctx: StepContext) -> list[ChecklistItem]:
    """The checklist items this gate asks a person for, less those confirmed already."""
    if ctx.incident_id is None:
        return []
    with ctx.runtime.store.session() as session:
        return still_asked_at_gate(session, ctx.incident_id)


def _asking(items: list[ChecklistItem]) -> str:
    if not items:
        return ""
    listed = "; ".join(f"{item.id} ({item.text})" for item in items)
    return f" — and to confirm with it: {listed}"


def _showing(shown: dict[str, Any] | None, run_id: int) -> str:
    """The plan the gate asks about; a long one is cut (it goes on the timeline and in
    notifications), the whole of it is the earlier step's output."""
    if shown is None:
        return ""
    text = str(shown.get("plan", ""))
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + f"\n... (the whole plan: backout run show {run_id} --json)"
    return f" — the plan ({shown.get('summary', '')}):\n{text}"
