"""Retire what a deploy replaced but kept (the docker driver's previous container), once the
version now running has been verified: the step after monitoring in a rollback plan."""

from __future__ import annotations

from typing import Any, ClassVar

from backout.drivers.base import RetireCapable
from backout.steps.base import StepContext, StepOutcome


class RetirePrevious:
    kind: ClassVar[str] = "retire_previous"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        driver = ctx.runtime.driver(ctx.service)
        if not isinstance(driver, RetireCapable):
            return StepOutcome.skipped("this service's driver keeps nothing it replaced")
        removed = driver.retire_previous()
        if not removed:
            return StepOutcome.done("nothing was kept to retire")
        return StepOutcome.done(f"removed {', '.join(removed)}", removed=removed)

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return self.run(ctx, params)  # removing what is kept is idempotent
