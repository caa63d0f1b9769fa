"""Put a release live through the service's driver, and record it as the one running."""

from __future__ import annotations

from typing import Any, ClassVar

from backout import failpoints, releases
from backout.audit import audit
from backout.drivers import ReleaseRef, RunState
from backout.errors import BackoutError
from backout.releases import ReleaseStatus
from backout.runtime import Runtime
from backout.steps.base import StepContext, StepOutcome
from backout.steps.health import failures, until_all_pass
from backout.store import Run


class Deploy:
    kind: ClassVar[str] = "deploy"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        driver = ctx.runtime.driver(ctx.service)
        driver.deploy(ReleaseRef(ctx.service, params["version"], params.get("ref")))
        failpoints.hit("deploy.after_driver", ctx.position)
        self.record_live(ctx, params["version"])
        return StepOutcome.done(f"{params['version']} started: {driver.status().detail}")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        status = ctx.runtime.driver(ctx.service).status()
        if status.state is RunState.RUNNING and status.version == params["version"]:
            self.record_live(ctx, params["version"])
            return StepOutcome.done(f"{params['version']} was already running: {status.detail}")
        return None

    @staticmethod
    def record_live(ctx: StepContext, version: str) -> None:
        """Record that this run put `version` live: once per run (a resumed step observes what
        it did), but again when the same version is started again by another run (after a
        `backout stop`, which the watch loop honours until the next deployment)."""
        runtime = ctx.runtime
        with runtime.store.session() as session:
            release = releases.find(session, runtime.environment, ctx.service, version)
            newest = releases.newest_deployment(session, runtime.environment, ctx.service)
            if newest is None or (newest.release_id, newest.run_id) != (release.id, ctx.run_id):
                releases.record_deployment(session, release, actor=ctx.actor, run_id=ctx.run_id)


def mark_deploy_failed(run: Run, why: str) -> None:
    """A deploy run failed: its release is `failed`, with why (never left `deploying`).

    A release with a verdict already (good, or rolled back and deployed again by force) keeps
    it: a failed start says nothing new of the artifact, and a good one must stay good."""
    release = run.target_release
    if release is not None and release.status in (ReleaseStatus.DEPLOYING, ReleaseStatus.FAILED):
        releases.mark(release, ReleaseStatus.FAILED, reason=why)


def put_previous_back(runtime: Runtime, run_id: int, actor: str) -> str:
    """After a failed deploy, make the release that was live before it the one running again.

    A driver that failed before stopping the previous version left it running: then only the
    record is set right. One that stopped it (the new process died at start, or failed its
    health checks) gets the previous version deployed again, and its health checks must pass
    before it is said to be live. Returns what was done, for the run's message; a failure to
    put it back is said too, never raised (the deploy failed either way, and a person must now
    look).
    """
    env = runtime.environment
    with runtime.store.session() as session:
        run = session.get(Run, run_id)
        previous = run.from_release if run is not None else None
        if run is None or previous is None:
            return ""
        service, version, ref = run.service, previous.version, previous.ref
    try:
        driver = runtime.driver(service)
        if driver.current() != version:
            driver.deploy(ReleaseRef(service, version, ref))
        unhealthy = _health_of_put_back(runtime, service)
    except BackoutError as error:
        return f"; putting {version} back failed too: {error.message}"
    with runtime.store.session() as session:
        current = releases.live(session, env, service)
        if current is None or current.version != version:
            release = releases.find(session, env, service, version)
            releases.record_deployment(session, release, actor=actor, run_id=run_id)
        audit(session, actor, "release.put_back", service, version=version, run_id=run_id)
    if unhealthy:
        return f"; {version} was started again, but its health checks do not pass: {unhealthy}"
    return f"; {version} is live again"


def _health_of_put_back(runtime: Runtime, service: str) -> str:
    """The failed health checks of the version put back, '' when all pass (or there are none)."""
    config = runtime.config.service(service)
    checks = runtime.health_checks_at(service, lambda: runtime.driver(service).status().port)
    if not checks:
        return ""
    passed, results = until_all_pass(checks, config.health_timeout.total_seconds(), runtime.clock)
    return "" if passed else failures(results)


def down_note(runtime: Runtime, service: str) -> str:
    """After a failed rollback: a line 'nothing of api runs now ...' when the service is down
    (its driver stopped the bad release before the previous one failed to start), else ''."""
    try:
        status = runtime.driver(service).status()
    except BackoutError:
        return ""  # the driver cannot tell: say nothing rather than guess
    if status.state in (RunState.STOPPED, RunState.FAILED):
        return f"\nnothing of {service} runs now ({status.state}): it is DOWN"
    return ""
