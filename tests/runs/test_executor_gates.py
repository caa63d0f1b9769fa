"""A person can hold a run (an approval gate) or stop it (an abort); both are honoured at step
boundaries, and an abort stands whatever the executing process does afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from backout.errors import ExitCode, RefusedError
from backout.operations.rollback import RollbackRequest, abort_run, approve_run, start_rollback
from backout.runs.records import StepEvent, StepState
from backout.runs.start import StoredRun, start_run

if TYPE_CHECKING:
    from backout.runtime import Runtime
    from conftest import FakeClock, Site

GATED = RollbackRequest("api", approval_gate=True)


def _waiting_run(runtime: Runtime) -> int:
    run = start_rollback(runtime, GATED, actor="tester")
    assert run.execute().exit_code == ExitCode.AWAITING_APPROVAL
    return run.run_id


def test_a_gated_rollback_waits_for_an_approval_then_finishes(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    run = start_rollback(runtime, GATED, actor="tester")
    run_id = run.run_id

    waiting = run.execute()

    assert waiting.exit_code == ExitCode.AWAITING_APPROVAL == 6
    assert f"run {run_id} waits for approval" in waiting.message
    assert site.run(run_id).state == "awaiting_approval"
    steps = site.steps(run_id)
    assert steps[0].kind == "approve"
    assert {s.state for s in steps} == {"pending"}
    assert site.lock_holder() == run_id
    assert site.runtime().driver("api").current() == "1.1.0"

    finished = approve_run(runtime, run_id, "ic@example.org").execute()

    assert finished.exit_code == ExitCode.OK, finished.message
    gate = site.step(run_id, 1)
    assert gate.state == "succeeded"
    assert gate.message == "approved by ic@example.org"
    site.assert_rolled_back_once(run_id)


def test_approving_a_run_that_is_not_waiting_is_refused(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    not_started = start_rollback(runtime, GATED, actor="tester").run_id

    with pytest.raises(RefusedError, match="is not waiting for an approval"):
        approve_run(runtime, not_started, "ic@example.org")
    assert (
        start_run(runtime, StoredRun(not_started, "tester")).execute().exit_code
        == ExitCode.AWAITING_APPROVAL
    ), "the refused approval was not recorded"
    approve_run(runtime, not_started, "ic@example.org")
    with pytest.raises(RefusedError, match="is not waiting for an approval"):
        approve_run(runtime, not_started, "ic@example.org")
    assert start_run(runtime, StoredRun(not_started, "tester")).execute().exit_code == ExitCode.OK

    by_cli = site.backout("approve", str(not_started))
    assert by_cli.returncode == ExitCode.FAILED
    assert "is not waiting for an approval (it is succeeded)" in by_cli.stderr


def test_aborting_a_waiting_run_frees_its_service(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    waiting = _waiting_run(runtime)

    abort_run(runtime, waiting, "ic@example.org", "false alarm")

    run = site.run(waiting)
    assert run.state == "aborted"
    assert run.error == "aborted by ic@example.org: false alarm"
    assert site.lock_holder() is None
    with pytest.raises(RefusedError):
        approve_run(runtime, waiting, "ic@example.org")
    later = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id
    assert site.lock_holder() == later


def test_an_abort_as_the_gate_is_reached_stands(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)

    def abort_at_the_gate(event: StepEvent) -> None:
        if event.position == 1 and event.state is StepState.RUNNING:
            abort_run(runtime, event.run_id, "ic@example.org", "changed my mind")

    run_id = start_rollback(runtime, GATED, actor="tester").run_id

    result = start_run(runtime, StoredRun(run_id, "tester")).execute(abort_at_the_gate)

    assert result.exit_code == ExitCode.ABORTED, result.message
    assert site.run(run_id).state == "aborted"
    with pytest.raises(RefusedError):
        approve_run(runtime, run_id, "ic@example.org")


def test_an_abort_stops_the_executing_process_at_the_next_step_boundary(site: Site) -> None:
    site.configure(hold_until="deploy-may-end")  # the deploy step runs until the file exists
    rollback = site.start("rollback", "api", "--yes")
    run_id = site.wait_for_step(2, "running")

    abort_run(site.runtime(), run_id, "ic@example.org", "stop there")
    (site.root / "deploy-may-end").touch()
    rollback.communicate(timeout=30)

    assert rollback.returncode == ExitCode.ABORTED
    assert site.run(run_id).state == "aborted"
    states = [s.state for s in site.steps(run_id)]
    assert states[:2] == ["succeeded", "succeeded"], "the step under way was let finish"
    assert states[2:] == ["pending"] * (len(states) - 2)
    assert [s.attempts for s in site.steps(run_id)][2:] == [0] * (len(states) - 2)
    assert site.release_status("1.1.0") == "live", "the last step never ran"
    assert site.lock_holder() is None
