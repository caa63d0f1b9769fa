"""The steps of the infrastructure stack plan: plan, (approval,) apply, verify and record.

The plan is saved per run (`<state>/infra/NAME/run-N.tfplan`) and applied as saved, so what is
applied is what the approver read. observe() looks at the stack itself: a run resumed after a
crash during apply finds the stack matching the variables and goes on without applying twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from backout import releases
from backout.errors import StepFailedError
from backout.infra import stack_tool_for
from backout.infra.recording import label_key, live_release, record_applied
from backout.steps.base import StepContext, StepOutcome
from backout.subjects import Subject

_SHOWN_PLAN_CHARS = 20_000  # a plan longer than this is cut in the step's output


class StackPlanStep:
    """Plan the recorded variables; the plan's text is the step's output, for the approver."""

    kind: ClassVar[str] = "stack_plan"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        name = params["stack"]
        saved = ctx.runtime.config.state_dir / "infra" / name / f"run-{ctx.run_id}.tfplan"
        plan = stack_tool_for(ctx.runtime.config, name).plan(params["variables"], saved)
        text = plan.text if len(plan.text) <= _SHOWN_PLAN_CHARS else _cut(plan.text)
        said = f"stack {name}: {plan.summary}"
        if not plan.changes:
            said += f" (it matches {params['to_version']} already)"
        return StepOutcome.done(
            said, summary=plan.summary, changes=plan.changes, saved=str(plan.saved), plan=text
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return None  # planning changes nothing: plan again


class StackApply:
    """Apply the saved, approved plan; nothing when it changes nothing."""

    kind: ClassVar[str] = "stack_apply"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        planned = ctx.output_of("stack_plan")
        name = params["stack"]
        if not planned["changes"]:
            return StepOutcome.skipped(f"stack {name}: the plan changes nothing")
        tool = stack_tool_for(ctx.runtime.config, name)
        try:
            tool.apply(Path(planned["saved"]))
        except StepFailedError as error:
            if tool.matches(params["variables"]):  # applied meanwhile, by this run or another
                return StepOutcome.done(f"stack {name} matches {params['to_version']} already")
            raise StepFailedError(
                f"{error.message} — nothing is applied without an approved plan: roll the "
                f"stack back again (backout rollback stack:{name}) to plan and approve anew"
            ) from None
        return StepOutcome.done(f"stack {name}: applied ({planned['summary']})")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        name = params["stack"]
        if stack_tool_for(ctx.runtime.config, name).matches(params["variables"]):
            return StepOutcome.done(f"stack {name} matches {params['to_version']}")
        return None


class StackVerify:
    """Check a fresh plan shows no change, read the outputs; record the variables applied and
    those they replaced rolled back."""

    kind: ClassVar[str] = "stack_verify"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        name = params["stack"]
        tool = stack_tool_for(ctx.runtime.config, name)
        if not tool.matches(params["variables"]):
            raise StepFailedError(
                f"stack {name} does not match {params['to_version']}: a plan of its variables "
                "still shows changes after the apply"
            )
        outputs = tool.outputs()
        self._record(ctx, params)
        shown = ", ".join(f"{k}={v}" for k, v in sorted(outputs.items())) or "(no outputs)"
        return StepOutcome.done(
            f"stack {name} matches {params['to_version']}; outputs: {shown}; recorded applied",
            outputs=outputs,
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        name = params["stack"]
        with ctx.runtime.store.session() as session:
            live = live_release(session, ctx.runtime.environment, name)
            recorded = live is not None and live.version == params["to_version"]
        if recorded and stack_tool_for(ctx.runtime.config, name).matches(params["variables"]):
            return StepOutcome.done(f"stack {name} matches {params['to_version']}; recorded")
        return None  # checking and recording are idempotent: do them again

    @staticmethod
    def _record(ctx: StepContext, params: dict[str, Any]) -> None:
        runtime = ctx.runtime
        name = params["stack"]
        with runtime.store.session() as session:
            left = params.get("from_version")
            if left is not None and left != params["to_version"]:
                key = Subject.stack(name).key
                reason = f"rolled back by run {ctx.run_id}: {params['reason']}"
                releases.mark_rolled_back_if_recorded(
                    session, runtime.environment, key, left, reason=reason
                )
            record_applied(
                session, runtime.environment, name, params["variables"], actor=ctx.actor,
                label_key=label_key(runtime.config.state_dir), run_id=ctx.run_id,
            )  # fmt: skip


def _cut(text: str) -> str:
    half = _SHOWN_PLAN_CHARS // 2
    return f"{text[:half]}\n... ({len(text) - 2 * half} characters left out) ...\n{text[-half:]}"
