"""One run at a time per (environment, service): a second rollback is refused naming the run
that holds the lock, other services are free, and a run that ends lets go of its service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from backout.clock import wait_until
from backout.errors import ExitCode, LockedError, RefusedError
from backout.operations import views
from backout.operations.rollback import RollbackRequest, abort_run, start_rollback
from backout.runs.records import RunState
from backout.runs.start import StoredRun, start_run
from backout.store import SubjectLock

if TYPE_CHECKING:
    from conftest import FakeClock, Site


def test_of_two_simultaneous_rollbacks_of_a_service_exactly_one_runs(site: Site) -> None:
    site.configure(hold_until="deploy-may-end")  # the winner holds the lock till it exists
    first = site.start("rollback", "api", "--yes")
    second = site.start("rollback", "api", "--yes")
    assert wait_until(lambda: first.poll() is not None or second.poll() is not None, 60)
    (site.root / "deploy-may-end").touch()  # only once the loser has given up
    outputs = [process.communicate(timeout=60) for process in (first, second)]
    codes = [first.returncode, second.returncode]

    assert sorted(codes) == [ExitCode.OK, ExitCode.LOCKED], outputs
    run = site.only_run()
    assert run.state == "succeeded"
    _, loser_stderr = outputs[codes.index(ExitCode.LOCKED)]
    assert f"service 'api' is locked by run {run.id}" in loser_stderr
    site.assert_rolled_back_once(run.id)


def test_another_service_can_be_rolled_back_while_one_is_locked(
    site: Site, clock: FakeClock
) -> None:
    runtime = site.runtime(clock)
    api_run = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id

    with pytest.raises(LockedError, match=f"locked by run {api_run}") as refused:
        start_rollback(runtime, RollbackRequest("api"), actor="tester")
    assert refused.value.holder_run_id == api_run
    web_run = start_rollback(runtime, RollbackRequest("web"), actor="tester").run_id
    result = start_run(runtime, StoredRun(web_run, "tester")).execute()

    assert result.state is RunState.SUCCEEDED, result.message
    assert site.runtime().driver("web").current() == "1.0.0"
    assert [run.id for run in site.runs()] == [api_run, web_run], "the refusal stored nothing"
    assert site.lock_holder("api") == api_run
    assert site.lock_holder("web") is None


def test_a_failed_run_lets_go_of_its_service(site: Site, clock: FakeClock) -> None:
    site.configure(fail_versions=["1.0.0"])
    runtime = site.runtime(clock)
    failed = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id
    assert start_run(runtime, StoredRun(failed, "tester")).execute().state is RunState.FAILED
    assert site.lock_holder() is None

    later = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id

    assert site.lock_holder() == later != failed


def test_an_aborted_run_lets_go_of_its_service(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    aborted = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id
    abort_run(runtime, aborted, "ic@example.org", "wrong service")
    # Its creator (alive: this process) may be about to act on it: the lock waits for it...
    assert site.lock_holder() == aborted
    with pytest.raises(RefusedError, match="has already ended: aborted"):
        start_run(runtime, StoredRun(aborted, "tester")).execute()
    # ...and is freed as soon as that process sees the abort.
    assert site.lock_holder() is None

    later = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id

    assert site.lock_holder() == later != aborted
    assert start_run(runtime, StoredRun(later, "tester")).execute().state is RunState.SUCCEEDED
    site.assert_rolled_back_once(later)


def test_a_lock_left_by_an_ended_run_whose_owner_died_is_freed(
    site: Site, clock: FakeClock
) -> None:
    crashed = site.backout("rollback", "api", "--yes", failpoints="executor.after_step=1")
    assert crashed.returncode == -9, crashed
    runtime = site.runtime(clock)
    [left] = views.list_runs(runtime)
    abort_run(runtime, left["id"], "ic@example.org", "the host died")  # owner dead: freed at once
    assert site.lock_holder() is None
    with runtime.store.session() as session:  # the worst case: a lock nobody can free any more
        session.add(
            SubjectLock(
                environment="production",
                subject_kind="service",
                subject_name="api",
                run_id=left["id"],
            )
        )

    later = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id

    assert site.lock_holder() == later


def test_a_lock_held_by_a_run_whose_process_died_says_how_to_free_it(site: Site) -> None:
    crashed = site.backout("rollback", "api", "--yes", failpoints="executor.after_step=1")
    assert crashed.returncode == -9, crashed
    [left] = site.runs()

    refused = site.backout("rollback", "api", "--yes")

    assert refused.returncode == ExitCode.LOCKED
    assert f"service 'api' is locked by run {left.id}" in refused.stderr
    assert f"no process executes run {left.id}" in refused.stderr
    assert f"backout resume, or stop it with backout abort {left.id}" in refused.stderr


def test_a_lock_held_by_a_run_at_its_gate_says_to_wait_for_it(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    gated = start_rollback(runtime, RollbackRequest("api", approval_gate=True), actor="tester")
    assert gated.execute().state is RunState.AWAITING_APPROVAL

    refused = site.backout("rollback", "api", "--yes")

    assert refused.returncode == ExitCode.LOCKED
    assert "wait for it, or see: backout run show" in refused.stderr
