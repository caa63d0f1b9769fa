"""The monitoring window after a rollback: the triggers stay armed; one firing fails the run."""

from __future__ import annotations

from typing import Any, ClassVar

from backout.steps.base import StepContext, StepOutcome
from backout.steps.triggers import hold_and_watch


class Monitor:
    kind: ClassVar[str] = "monitor"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        if ctx.runtime.metrics(ctx.service) is None:
            return StepOutcome.skipped("no metric source for this service: nothing to watch")
        summary = hold_and_watch(ctx, params["duration_s"], what="monitoring")
        return StepOutcome.done(f"no trigger fired in {params['duration_s']:g}s ({summary})")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return None  # an interrupted window is watched again in full
