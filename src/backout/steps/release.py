"""Give the release that was rolled back its verdict, so it is never picked as good again."""

from __future__ import annotations

from typing import Any, ClassVar

from backout import releases
from backout.releases import ReleaseStatus
from backout.steps.base import StepContext, StepOutcome


class MarkRelease:
    kind: ClassVar[str] = "mark_release"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        runtime = ctx.runtime
        status = ReleaseStatus(params["status"])
        with runtime.store.session() as session:
            release = releases.find(session, runtime.environment, ctx.service, params["version"])
            if status is ReleaseStatus.LIVE and release.status == ReleaseStatus.GOOD:
                # Deployed again, the same artifact keeps its verdict: demoting it could leave
                # the service with no last known good.
                release.live_at = runtime.clock.now()
                return StepOutcome.done(f"{params['version']} is live again, and still good")
            releases.mark(release, status, reason=params.get("reason"), at=runtime.clock.now())
        return StepOutcome.done(f"{params['version']} marked {status}")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return self.run(ctx, params)  # setting a status is idempotent
