"""The runbook's "stop traffic" and "gradual traffic restore", through the service's router."""

from __future__ import annotations

from typing import Any, ClassVar

from backout.steps.base import StepContext, StepOutcome
from backout.steps.triggers import hold_and_watch


class Drain:
    kind: ClassVar[str] = "drain"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        router = ctx.runtime.router(ctx.service)
        if not router.routes_traffic:
            return StepOutcome.skipped(router.why_not)
        if params["version"] is None:
            return StepOutcome.skipped("no other version is live: nothing to drain")
        router.drain(params["version"])
        return StepOutcome.done(f"no new requests reach {params['version']}")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        router = ctx.runtime.router(ctx.service)
        if not router.routes_traffic:
            return StepOutcome.skipped(router.why_not)
        if params["version"] is None or router.share(params["version"]) == 0:
            return StepOutcome.done(f"{params['version']} was already drained")
        return None


class RestoreTraffic:
    kind: ClassVar[str] = "restore_traffic"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        router = ctx.runtime.router(ctx.service)
        if not router.routes_traffic:
            return StepOutcome.skipped(router.why_not)
        version = params["version"]
        seen = []
        for percent in params["stages"]:
            router.set_share(version, percent)
            if percent < 100:
                summary = hold_and_watch(ctx, params["hold_s"], what=f"{percent}% traffic")
                seen.append(f"{percent}%: {summary}")
        return StepOutcome.done(f"{version} takes 100% of traffic ({'; '.join(seen)})")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        router = ctx.runtime.router(ctx.service)
        if not router.routes_traffic:
            return StepOutcome.skipped(router.why_not)
        if router.share(params["version"]) >= 100:
            return StepOutcome.done(f"{params['version']} already took 100% of traffic")
        return None
