"""The feature-flag plan is a durable run like any other: stored whole, locked per flag
(`flag:KEY`), and finished by `backout resume` after a real SIGKILL without making any flag
change twice. Flags live in the builtin provider on the site's SQLite store."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from backout.operations.flags import flag_detail

if TYPE_CHECKING:
    from conftest import Site

PLAN = ("flag_set", "flag_hold", "flag_set", "flag_hold", "flag_mark_remove")
SETS = (1, 3, 5)  # the steps that change the flag (the marking is a change too)
KILLED = -signal.SIGKILL
RAMP = ("flags", "ramp-down", "waitlist", "--stages", "50,0", "--hold", "0s", "--reason", "retire")


@pytest.fixture
def flag_site(site: Site) -> Site:
    """The seeded site, with `waitlist` (on for everyone) guarding service api."""
    config = yaml.safe_load(site.config_path.read_text())
    config["services"]["api"]["guarded_by"] = ["waitlist"]
    config["flags"] = {"definitions": {"waitlist": {"description": "the waitlist"}}}
    site.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return site


def flag_changes(site: Site) -> list[dict[str, Any]]:
    """Every recorded change of waitlist, oldest first."""
    changes: list[dict[str, Any]] = flag_detail(site.runtime(), "waitlist")["changes"]
    return changes[::-1]


def assert_ramped_down_once(site: Site, run_id: int) -> None:
    """The run ended well, and made each of its three changes exactly once."""
    assert site.run(run_id).state == "succeeded"
    changes = flag_changes(site)
    assert [
        (c["after"]["enabled"], c["after"]["rollout"], c["after"]["to_remove"]) for c in changes
    ] == [
        (True, 50, False),
        (False, 50, False),
        (False, 50, True),
    ]
    assert {c["run_id"] for c in changes} == {run_id}
    assert site.lock_holder("flag:waitlist") is None


def test_the_plan_is_stored_whole_under_the_flags_lock_before_anything_changes(
    flag_site: Site,
) -> None:
    waiting = flag_site.backout(*RAMP, "--approval")

    assert waiting.returncode == 6, waiting.stderr
    run = flag_site.only_run()
    assert (run.service, run.state) == ("flag:waitlist", "awaiting_approval")
    steps = flag_site.steps(run.id)
    assert tuple(s.kind for s in steps) == ("approve", *PLAN)
    assert steps[1].params == {
        "flag": "waitlist",
        "percent": 50,
        "reason": "retire (ramp-down stage 1/2: 50 %)",
    }
    assert steps[4].params["services"] == ["api"]
    assert flag_site.lock_holder("flag:waitlist") == run.id
    assert flag_changes(flag_site) == []

    second = flag_site.backout(*RAMP)

    assert second.returncode == 5, second.stderr
    assert f"flag 'waitlist' is locked by run {run.id}" in second.stderr
    assert len(flag_site.runs()) == 1
    assert flag_changes(flag_site) == []


@pytest.mark.parametrize("k", range(1, len(PLAN) + 1))
def test_a_ramp_down_killed_after_step_k_is_finished_by_resume_changing_nothing_twice(
    flag_site: Site, k: int
) -> None:
    died = flag_site.backout(*RAMP, failpoints=f"executor.after_step={k}")
    assert died.returncode == KILLED, died.stderr
    run = flag_site.only_run()
    assert [s.state for s in flag_site.steps(run.id)][k:] == ["pending"] * (len(PLAN) - k)
    assert flag_site.lock_holder("flag:waitlist") == run.id, "a crashed run keeps its flag locked"

    resumed = flag_site.backout("resume")

    assert resumed.returncode == 0, resumed.stderr
    assert [s.attempts for s in flag_site.steps(run.id)] == [1] * len(PLAN)
    assert_ramped_down_once(flag_site, run.id)


@pytest.mark.parametrize("k", SETS)
def test_a_change_killed_before_its_step_was_recorded_is_observed_not_repeated(
    flag_site: Site, k: int
) -> None:
    died = flag_site.backout(*RAMP, failpoints=f"executor.after_act={k}")
    assert died.returncode == KILLED, died.stderr
    run = flag_site.only_run()
    step = flag_site.step(run.id, k)
    assert (step.state, step.attempts) == ("running", 1)
    assert len(flag_changes(flag_site)) == SETS.index(k) + 1, "the change had happened"

    resumed = flag_site.backout("resume")

    assert resumed.returncode == 0, resumed.stderr
    step = flag_site.step(run.id, k)
    assert (step.state, step.attempts) == ("succeeded", 1)
    assert (step.message or "").startswith("(observed after an interruption) waitlist was already")
    assert_ramped_down_once(flag_site, run.id)
