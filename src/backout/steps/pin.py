"""Pin a rolled-back release in the deploy repository, or unpin one deployed again by force."""

from __future__ import annotations

from typing import Any, ClassVar

from backout.pins import Pin, PinFile
from backout.steps.base import StepContext, StepOutcome


class PinRelease:
    kind: ClassVar[str] = "pin_release"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        runtime = ctx.runtime
        settings = runtime.config.pins
        if settings is None:
            return StepOutcome.skipped("no `pins:` in the config: nothing to pin")
        pins = PinFile(settings, runtime.config.base_dir, runtime.config.state_dir)
        if params["pinned"]:
            pin = Pin(
                environment=runtime.environment,
                service=ctx.service,
                version=params["version"],
                reason=params["reason"],
                at=runtime.clock.now().isoformat(),
                incident=ctx.incident_id,
            )
            return StepOutcome.done(pins.pin(pin), pin_file=str(pins.path))
        done = pins.unpin(runtime.environment, ctx.service, params["version"], why=params["reason"])
        return StepOutcome.done(done, pin_file=str(pins.path))

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return None  # pinning is idempotent and commits what an earlier attempt left written
