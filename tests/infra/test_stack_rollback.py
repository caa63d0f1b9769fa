"""A Terraform stack back to its previous variables, end to end through the `backout` program
and the real terraform: record each apply, `backout rollback stack:NAME` plans, shows the plan
and waits at the gate; `backout approve` applies exactly that plan and verifies the outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backout.operations.stack_runs import stack_rollback_parts
from backout.runtime import Runtime
from tests.infra.conftest import Stack, backout, write_config

GOOD = {"image": "app:v1", "replicas": 2}
BAD = {"image": "app:v2", "replicas": 3}
AWAITING_APPROVAL = 6


@pytest.fixture
def workspace(tmp_path: Path, stack: Stack) -> Path:
    """A backout.yaml with the one stack `app`, applied and recorded twice: GOOD then BAD."""
    write_config(
        tmp_path,
        {
            "name": "app",
            "tool": {"type": "terraform", "dir": "infra/app"},
            "variables": "infra/pipeline.tfvars.json",
        },
    )
    for variables in (GOOD, BAD):
        stack.apply(variables)  # the pipeline applies, then records what it applied
        recorded = backout(tmp_path, "infra", "record", "app")
        assert recorded.code == 0, recorded
    return tmp_path


def _run_id(said: str) -> int:
    found = re.search(r"run (\d+)", said)
    assert found is not None, said
    return int(found.group(1))


def test_the_plan_is_shown_and_approved_before_the_previous_variables_are_applied(
    workspace: Path, stack: Stack
) -> None:
    preview = backout(workspace, "rollback", "stack:app", "--dry-run", "--json")
    assert preview.code == 0, preview
    assert preview.json()["to_version"] == "image=app:v1, replicas=2"
    assert preview.json()["from_version"] == "image=app:v2, replicas=3"

    waiting = backout(workspace, "rollback", "stack:app", "--yes", "--json")

    assert waiting.code == AWAITING_APPROVAL, waiting
    assert waiting.json()["state"] == "awaiting_approval"
    shown = waiting.json()["message"]
    assert "1 to add, 0 to change, 1 to destroy" in shown  # terraform's own plan, shown
    assert '"app:v2" -> "app:v1"' in shown
    assert stack.outputs()["image"] == "app:v2", "nothing is applied before the approval"

    approved = backout(workspace, "approve", str(waiting.json()["run_id"]))

    assert approved.code == 0, approved
    assert stack.outputs() == GOOD
    assert stack.deployed() == ["app:v1", "app:v2", "app:v1"]
    detail = backout(workspace, "run", "show", str(waiting.json()["run_id"]), "--json").json()
    verify = detail["steps"][-1]
    assert "outputs: image=app:v1, replicas=2" in verify["message"]
    shown_after = backout(workspace, "infra", "show", "--json").json()[0]
    assert shown_after["recorded_live"] == "image=app:v1, replicas=2"
    assert shown_after["matches_live"] is True


def test_after_the_rollback_the_bad_variables_are_not_the_previous_ones(
    workspace: Path, stack: Stack
) -> None:
    run_id = backout(workspace, "rollback", "stack:app", "--yes", "--json").json()["run_id"]
    assert backout(workspace, "approve", str(run_id)).code == 0

    again = backout(workspace, "rollback", "stack:app", "--dry-run", "--json")

    assert again.code != 0
    assert "no previous variables of stack app" in again.json()["error"]["message"]


def test_a_stack_applied_by_hand_goes_back_to_the_recorded_live_variables(
    workspace: Path, stack: Stack
) -> None:
    stack.apply({"image": "app:hotfix", "replicas": 1})  # not recorded

    preview = backout(workspace, "rollback", "stack:app", "--dry-run", "--json")

    assert preview.json()["to_version"] == "image=app:v2, replicas=3"


def test_a_rollback_killed_right_after_the_apply_resumes_without_applying_twice(
    workspace: Path, stack: Stack
) -> None:
    run_id = backout(workspace, "rollback", "stack:app", "--yes", "--json").json()["run_id"]
    apply_step = 3  # plan, approval, apply, verify

    killed = backout(
        workspace, "approve", str(run_id), failpoints=f"executor.after_act={apply_step}"
    )
    assert killed.code < 0 or killed.code == 137, killed  # SIGKILL
    assert stack.outputs() == GOOD  # it applied, and died before recording so

    resumed = backout(workspace, "resume")

    assert resumed.code == 0, resumed
    detail = backout(workspace, "run", "show", str(run_id), "--json").json()
    assert detail["state"] == "succeeded"
    assert "observed after an interruption" in detail["steps"][apply_step - 1]["message"]
    assert stack.deployed() == ["app:v1", "app:v2", "app:v1"], "applied once"


def test_stack_parts_give_a_full_rollback_the_stack_steps_in_order(
    workspace: Path, stack: Stack
) -> None:
    runtime = Runtime.open(workspace / "backout.yaml")
    try:
        found = stack_rollback_parts(runtime, reason="full")
    finally:
        runtime.close()

    assert found.untouched == {}
    [(target, steps)] = found.parts
    assert str(target.subject) == "stack:app"
    assert target.to_version == "image=app:v1, replicas=2"
    assert [s.kind for s in steps] == ["stack_plan", "approve", "stack_apply", "stack_verify"]
    assert stack.outputs()["image"] == "app:v2", "the preview changes nothing"


def test_a_terraform_error_is_a_clear_message_and_nothing_is_applied(
    workspace: Path, stack: Stack
) -> None:
    (stack.dir / "broken.tf").write_text('output "x" { value = var.missing }\n')

    done = backout(workspace, "rollback", "stack:app", "--yes")

    assert done.code not in (0, AWAITING_APPROVAL)
    assert "terraform plan in" in done.stderr
    assert "Reference to undeclared" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_plan_gone_stale_before_its_approval_is_never_applied(
    workspace: Path, stack: Stack
) -> None:
    run_id = backout(workspace, "rollback", "stack:app", "--yes", "--json").json()["run_id"]
    stack.apply({"image": "app:hotfix", "replicas": 1})  # someone applies while it waits

    approved = backout(workspace, "approve", str(run_id))

    assert approved.code not in (0, AWAITING_APPROVAL)
    assert "nothing is applied without an approved plan" in approved.stdout
    assert stack.outputs()["image"] == "app:hotfix"
