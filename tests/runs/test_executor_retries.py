"""A step that fails is retried only when its error says a retry can help, backing off on the
runtime's clock; a run that fails says which step failed and leaves its incident open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backout.errors import ExitCode
from backout.operations.rollback import RollbackRequest, abort_run, start_rollback
from backout.runs.start import StoredRun, start_run

if TYPE_CHECKING:
    from conftest import FakeClock, Site

DEPLOY = 2
RETRIES = 2


def _assert_failed_at_the_deploy(site: Site, run_id: int) -> None:
    run = site.run(run_id)
    assert run.state == "failed"
    assert (run.error or "").startswith(
        "step 2 (Deploy previous version 1.0.0) failed: fake driver: deploying api 1.0.0 fails"
    )
    assert [s.state for s in site.steps(run_id)][DEPLOY:] == ["pending"] * 4
    assert site.runtime().driver("api").current() == "1.1.0"
    assert site.live_version() == "1.1.0"
    assert run.incident_id is not None
    status, events = site.incident(run.incident_id)
    assert status != "resolved"
    assert "step_failed" in events
    assert events[-1] == "run_failed"
    assert site.lock_holder() is None


def test_a_retryable_driver_error_is_retried_then_fails_the_run(
    site: Site, clock: FakeClock
) -> None:
    site.configure(retries=RETRIES, fail_versions=["1.0.0"], fail_retryable=True)
    runtime = site.runtime(clock)
    run_id = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id

    result = start_run(runtime, StoredRun(run_id, "tester")).execute()

    assert result.exit_code == ExitCode.FAILED
    deploy = site.step(run_id, DEPLOY)
    assert (deploy.state, deploy.attempts) == ("failed", RETRIES + 1)
    assert clock.slept == [2.0, 4.0], "it backs off between attempts, on the runtime's clock"
    _assert_failed_at_the_deploy(site, run_id)


def test_a_non_retryable_driver_error_fails_the_run_at_once(site: Site, clock: FakeClock) -> None:
    site.configure(retries=RETRIES, fail_versions=["1.0.0"], fail_retryable=False)
    runtime = site.runtime(clock)
    run_id = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id

    result = start_run(runtime, StoredRun(run_id, "tester")).execute()

    assert result.exit_code == ExitCode.FAILED
    deploy = site.step(run_id, DEPLOY)
    assert (deploy.state, deploy.attempts) == ("failed", 1)
    assert clock.slept == []
    _assert_failed_at_the_deploy(site, run_id)


def test_an_abort_during_a_retry_back_off_stops_the_retries(site: Site, clock: FakeClock) -> None:
    site.configure(retries=RETRIES, fail_versions=["1.0.0"], fail_retryable=True)
    runtime = site.runtime(clock)
    run_id = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id

    def abort_once() -> None:
        clock.on_sleep = None
        abort_run(runtime, run_id, "ic@example.org", "stop retrying")

    clock.on_sleep = abort_once

    result = start_run(runtime, StoredRun(run_id, "tester")).execute()

    assert result.exit_code == ExitCode.ABORTED, result.message
    run = site.run(run_id)
    assert run.state == "aborted"
    assert run.error == "aborted by ic@example.org: stop retrying"
    assert site.step(run_id, DEPLOY).attempts == 1, "no attempt after the abort"
    assert site.lock_holder() is None
