"""Put a release live through the service's driver, and record it as the one running."""

from __future__ import annotations

from typing import Any, ClassVar

from backout import failpoints, releases
from backout.drivers import ReleaseRef, RunState
from backout.steps.base import StepContext, StepOutcome


class Deploy:
    kind: ClassVar[str] = "deploy"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        driver = ctx.runtime.driver(ctx.service)
        driver.deploy(ReleaseRef(ctx.service, params["version"], params.get("ref")))
        failpoints.hit("deploy.after_driver", ctx.position)
        self._record_live(ctx, params["version"])
        return StepOutcome.done(f"{params['version']} started: {driver.status().detail}")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        status = ctx.runtime.driver(ctx.service).status()
        if status.state is RunState.RUNNING and status.version == params["version"]:
            self._record_live(ctx, params["version"])
            return StepOutcome.done(f"{params['version']} was already running: {status.detail}")
        return None

    @staticmethod
    def _record_live(ctx: StepContext, version: str) -> None:
        runtime = ctx.runtime
        with runtime.store.session() as session:
            release = releases.find(session, runtime.environment, ctx.service, version)
            current = releases.live(session, runtime.environment, ctx.service)
            if current is None or current.id != release.id:
                releases.record_deployment(session, release, actor=ctx.actor, run_id=ctx.run_id)
