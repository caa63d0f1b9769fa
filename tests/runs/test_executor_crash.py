"""A rollback survives the process that runs it: killed anywhere, `backout resume` finishes it
without repeating a step that took effect. Every crash here is a real SIGKILL of `backout`."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from backout.errors import RefusedError
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.runs.records import StepEvent, StepState
from backout.runs.start import StoredRun, start_run

if TYPE_CHECKING:
    from conftest import FakeClock, Site, StepRow

# The application plan of a service with a router and no approval gate, in its order.
PLAN = ("drain", "deploy", "health", "restore_traffic", "monitor", "mark_release")
DEPLOY = PLAN.index("deploy") + 1
DONE = ("succeeded", "skipped")
KILLED = -signal.SIGKILL


def test_the_whole_plan_is_stored_before_its_first_step_runs(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    seen_at_first_step: list[list[StepRow]] = []

    def snapshot(event: StepEvent) -> None:
        if event.position == 1 and event.state is StepState.RUNNING:
            seen_at_first_step.append(site.steps(event.run_id))

    run_id = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id
    start_run(runtime, StoredRun(run_id, "tester")).execute(snapshot)

    [steps] = seen_at_first_step
    assert tuple(s.kind for s in steps) == PLAN
    assert [s.state for s in steps] == ["running"] + ["pending"] * (len(PLAN) - 1)
    assert steps[DEPLOY - 1].params["version"] == "1.0.0"
    assert steps[-1].params == {
        "version": "1.1.0",
        "status": "rolled_back",
        "reason": "manual rollback",
    }


@pytest.mark.parametrize("k", range(1, len(PLAN) + 1))
def test_a_rollback_killed_after_step_k_is_finished_by_resume_repeating_no_step(
    site: Site, k: int
) -> None:
    died = site.backout("rollback", "api", "--yes", failpoints=f"executor.after_step={k}")
    assert died.returncode == KILLED, died.stderr
    run = site.only_run()
    assert run.state == "running"
    states = [s.state for s in site.steps(run.id)]
    assert all(state in DONE for state in states[:k]), states
    assert states[k:] == ["pending"] * (len(PLAN) - k)
    assert site.lock_holder() == run.id, "a crashed run keeps its service locked"

    resumed = site.backout("resume")

    assert resumed.returncode == 0, resumed.stderr
    assert f"run {run.id}:" in resumed.stdout
    assert [s.attempts for s in site.steps(run.id)] == [1] * len(PLAN)
    site.assert_rolled_back_once(run.id)


def test_a_deploy_killed_before_it_took_effect_is_run_again_on_resume(site: Site) -> None:
    site.configure(deploy_delay="30s")
    rollback = site.start("rollback", "api", "--yes")
    run_id = site.wait_for_step(DEPLOY, "running")
    rollback.kill()
    rollback.wait()
    assert site.step(run_id, DEPLOY).state == "running"
    assert site.runtime().driver("api").current() == "1.1.0", "the deploy had not happened"

    site.configure()  # the retried deploy need not wait
    resumed = site.backout("resume")

    assert resumed.returncode == 0, resumed.stderr
    deploy = site.step(run_id, DEPLOY)
    assert deploy.state == "succeeded"
    assert deploy.attempts == 2
    assert "interruption" not in (deploy.message or "")
    site.assert_rolled_back_once(run_id)


@pytest.mark.parametrize(
    "failpoint",
    [
        f"deploy.after_driver={DEPLOY}",  # the driver acted; the store does not know yet
        f"executor.after_act={DEPLOY}",  # the step ended; its outcome is not recorded yet
    ],
)
def test_a_deploy_killed_after_it_took_effect_is_observed_not_repeated(
    site: Site, failpoint: str
) -> None:
    died = site.backout("rollback", "api", "--yes", failpoints=failpoint)
    assert died.returncode == KILLED, died.stderr
    run = site.only_run()
    deploy = site.step(run.id, DEPLOY)
    assert (deploy.state, deploy.attempts) == ("running", 1)
    assert site.runtime().driver("api").current() == "1.0.0", "the deploy had happened"

    resumed = site.backout("resume")

    assert resumed.returncode == 0, resumed.stderr
    deploy = site.step(run.id, DEPLOY)
    assert deploy.state == "succeeded"
    assert deploy.attempts == 1
    assert (deploy.message or "").startswith("(observed after an interruption) 1.0.0 was already")
    site.assert_rolled_back_once(run.id)


def test_resume_leaves_a_run_whose_owner_lives_and_takes_it_over_once_the_owner_is_dead(
    site: Site,
) -> None:
    site.configure(deploy_delay="30s")
    rollback = site.start("rollback", "api", "--yes")
    run_id = site.wait_for_step(DEPLOY, "running")
    owner = site.run(run_id).owner
    assert owner is not None
    assert owner.split(":")[1] == str(rollback.pid)

    untouched = site.backout("resume")
    assert untouched.returncode == 0, untouched.stderr
    assert "nothing to resume" in untouched.stdout
    with pytest.raises(RefusedError, match=f"being executed by {re.escape(owner)}"):
        start_run(site.runtime(), StoredRun(run_id, "tester")).execute()
    assert rollback.poll() is None
    assert site.run(run_id).owner == owner
    assert site.step(run_id, DEPLOY).attempts == 1

    os.kill(rollback.pid, signal.SIGKILL)  # and no wait(): a zombie, its parent busy elsewhere
    site.wait_until(lambda: _is_zombie(rollback.pid), "the killed process to be a zombie")
    site.configure()
    taken_over = site.backout("resume")

    assert taken_over.returncode == 0, taken_over.stderr
    assert f"run {run_id}:" in taken_over.stdout
    assert site.run(run_id).owner is None
    site.assert_rolled_back_once(run_id)


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
