"""Starting a run: the previewed plan is the plan that runs, and a plan the world has moved
past is refused; a stored run is carried on by a handle; a stopping process leaves the run for
the next one between two steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from backout.errors import RefusedError
from backout.operations.deploy import record_release
from backout.operations.rollback import RollbackRequest, plan_rollback, start_rollback
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runs.start import StoredRun, start_run

if TYPE_CHECKING:
    from conftest import FakeClock, Site


def test_the_previewed_plan_is_the_plan_that_runs(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    previewed = plan_rollback(runtime, RollbackRequest("api"))
    # Planned again, this request would put an approval gate first: it must not be.
    gated = RollbackRequest("api", approval_gate=True)

    run = start_rollback(runtime, gated, actor="tester", plan=previewed)

    assert [(s.kind, s.params) for s in site.steps(run.run_id)] == [
        (s.kind, s.params) for s in previewed.steps
    ]
    assert run.execute().state is RunState.SUCCEEDED
    assert site.live_version() == previewed.target_version


def test_a_plan_made_before_another_release_went_live_is_refused(
    site: Site, clock: FakeClock
) -> None:
    runtime = site.runtime(clock)
    previewed = plan_rollback(runtime, RollbackRequest("api"))  # made while 1.1.0 is live
    record_release(
        runtime, "api", "1.2.0", ref="v1.2.0", actor="pipeline", status=ReleaseStatus.LIVE
    )

    with pytest.raises(
        RefusedError, match=r"made while 1\.1\.0 of api was live; 1\.2\.0 is live now"
    ):
        start_rollback(runtime, RollbackRequest("api"), actor="tester", plan=previewed)
    assert site.runs() == [], "the refusal stored nothing"
    assert site.lock_holder() is None


def test_a_stored_run_is_carried_on_by_its_handle(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    run_id = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id

    result = start_run(runtime, StoredRun(run_id, "tester")).execute()

    assert result.run_id == run_id
    assert result.state is RunState.SUCCEEDED, result.message
    site.assert_rolled_back_once(run_id)


def test_a_stopping_process_leaves_the_run_between_two_steps_for_the_next(
    site: Site, clock: FakeClock
) -> None:
    runtime = site.runtime(clock)
    run = start_rollback(runtime, RollbackRequest("api"), actor="tester")
    steps_begun: list[int] = []

    def stop_after_the_first_step() -> bool:
        steps_begun.append(1)
        return len(steps_begun) > 1

    left = start_run(runtime, StoredRun(run.run_id, "tester")).execute(
        should_stop=stop_after_the_first_step
    )

    assert left.state is RunState.RUNNING
    assert "left before step 2/" in left.message
    assert [s.state for s in site.steps(run.run_id)][:2] == ["succeeded", "pending"]
    assert site.run(run.run_id).owner is None, "no process owns it: the next one resumes it"
    assert site.lock_holder() == run.run_id, "the service stays locked for it"

    finished = start_run(runtime, StoredRun(run.run_id, "resumer")).execute()
    assert finished.state is RunState.SUCCEEDED, finished.message
    site.assert_rolled_back_once(run.run_id)
