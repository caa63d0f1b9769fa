"""Run the service's health checks until all pass; a rollback's recovery is timed here."""

from __future__ import annotations

from typing import Any, ClassVar

from backout.checks import Check, CheckResult
from backout.clock import Clock
from backout.drivers import SlotCapable
from backout.errors import StepFailedError
from backout.incidents import mark_recovered
from backout.steps.base import StepContext, StepOutcome
from backout.store import Incident

POLL_S = 0.05
MIN_ATTEMPT_S = 0.1  # the last attempt gets at least this, even when the budget is spent


class HealthCheck:
    kind: ClassVar[str] = "health"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        checks = ctx.runtime.health_checks_at(
            ctx.service, lambda: _port_of(ctx, params.get("version"))
        )
        if not checks:
            # Nothing can verify the recovery: the incident's clock does not stop here.
            return StepOutcome.skipped("no health checks configured: the recovery is unverified")
        timeout_s = min(float(params["timeout_s"]), ctx.remaining())
        passed, results = until_all_pass(checks, timeout_s, ctx.runtime.clock)
        if not passed:
            raise StepFailedError(
                "health checks did not pass in time: " + failures(results), retryable=False
            )
        if self.kind not in ctx.later_kinds:  # of several services, the last one's
            self._mark_recovered(ctx)
        return StepOutcome.done(
            f"{len(results)} check(s) passed", checks=[r.sentence() for r in results]
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return None  # read-only: running the checks again is always right

    @staticmethod
    def _mark_recovered(ctx: StepContext) -> None:
        if ctx.incident_id is None:
            return
        runtime = ctx.runtime
        with runtime.store.session() as session:
            incident = session.get(Incident, ctx.incident_id)
            if incident is not None:
                mark_recovered(session, incident, runtime.clock.now(), actor=ctx.actor)


def _port_of(ctx: StepContext, version: str | None) -> int | None:
    """Where `version` runs: its slot, for a driver with two; else the driver's one port."""
    driver = ctx.runtime.driver(ctx.service)
    if version is not None and isinstance(driver, SlotCapable):
        return driver.port_of(version)
    return driver.status().port


def until_all_pass(
    checks: list[Check], timeout_s: float, clock: Clock
) -> tuple[bool, list[CheckResult]]:
    """Run `checks` until all pass or `timeout_s` is spent: (all passed, the last results)."""
    end = clock.monotonic() + timeout_s
    while True:
        # Each attempt may take its check's own timeout, within what is left of the budget.
        results = [
            c.run(min(c.timeout, max(end - clock.monotonic(), MIN_ATTEMPT_S))) for c in checks
        ]
        if all(r.ok for r in results):
            return True, results
        if clock.monotonic() >= end:
            return False, results
        clock.sleep(POLL_S)


def failures(results: list[CheckResult]) -> str:
    """The failed results, as one sentence each."""
    return "; ".join(r.sentence() for r in results if not r.ok)
