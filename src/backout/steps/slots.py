"""The two-slot steps: start the restored version beside the bad one, retire the bad one.

Used by the application plan when the service's router routes traffic and its driver is
SlotCapable: the bad version keeps serving until the restored one is healthy and has taken all
the traffic, so the switch refuses no request.
"""

from __future__ import annotations

from typing import Any, ClassVar

from backout.drivers import Driver, ReleaseRef, SlotCapable
from backout.errors import StepFailedError
from backout.steps.base import StepContext, StepOutcome
from backout.steps.deploy import Deploy


def _slots(ctx: StepContext) -> SlotCapable:
    driver: Driver = ctx.runtime.driver(ctx.service)
    if not isinstance(driver, SlotCapable):
        raise StepFailedError(f"the driver of {ctx.service} cannot run two versions side by side")
    return driver


class DeployBeside:
    kind: ClassVar[str] = "deploy_beside"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        version = params["version"]
        port = _slots(ctx).deploy_beside(ReleaseRef(ctx.service, version, params.get("ref")))
        # Out of rotation until its checks pass and the restore gives it a share.
        ctx.runtime.router(ctx.service).set_share(version, 0)
        Deploy.record_live(ctx, version)
        return StepOutcome.done(
            f"{version} started beside the live version, on port {port}, taking no traffic yet",
            port=port,
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return None  # run() is idempotent: a version already in its slot stays there


class Retire:
    kind: ClassVar[str] = "retire"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        if params["version"] is None:
            return StepOutcome.skipped("no other version was live: nothing to retire")
        _slots(ctx).retire(params["version"])
        return StepOutcome.done(f"{params['version']} stopped; its slot is idle")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        if params["version"] is None or _slots(ctx).port_of(params["version"]) is None:
            return StepOutcome.done(f"{params['version']} was already stopped")
        return None
