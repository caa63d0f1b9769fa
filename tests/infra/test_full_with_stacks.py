"""`backout rollback --full` over a real Terraform stack and two services (the fake driver):
the stack first — its plan shown and approved — then the services, dependencies first, in one
run and one incident."""

from __future__ import annotations

from pathlib import Path

import pytest

from backout.operations.deploy import record_release
from backout.releases import ReleaseStatus
from backout.runtime import Runtime
from tests.infra.conftest import Stack, backout, write_config

AWAITING_APPROVAL = 6


def _service() -> dict[str, object]:
    return {
        "tier": "critical",
        "driver": {"type": "fake"},
        "router": {"type": "fake"},
        "health": [{"type": "command", "command": "true"}],
        "monitor": "0s",
        "traffic_hold": "0s",
    }


@pytest.fixture
def environment(tmp_path: Path, stack: Stack) -> Path:
    """The stack `app` applied with v1 then v2; `web` (depending on `api`) and `api` each run a
    bad 1.1.0 over a good 1.0.0."""
    web = {**_service(), "depends_on": ["api"]}
    stack_config = {"name": "app", "tool": {"type": "terraform", "dir": "infra/app"}}
    write_config(tmp_path, stack_config, services={"api": _service(), "web": web})
    for image in ("app:v1", "app:v2"):
        stack.apply({"image": image})
        vars_file = str(tmp_path / "infra" / "pipeline.tfvars.json")
        assert backout(tmp_path, "infra", "record", "app", "--vars", vars_file).code == 0
    runtime = Runtime.open(tmp_path / "backout.yaml")
    try:
        for service in ("api", "web"):
            for version, status in (("1.0.0", ReleaseStatus.GOOD), ("1.1.0", ReleaseStatus.LIVE)):
                record_release(
                    runtime, service, version, ref=f"v{version}", actor="ci", status=status
                )
    finally:
        runtime.close()
    return tmp_path


def test_the_plan_puts_the_stack_first_then_the_services_dependencies_first(
    environment: Path,
) -> None:
    preview = backout(environment, "rollback", "--full", "--dry-run", "--json")

    assert preview.code == 0, preview
    steps = [(s["subject"], s["kind"]) for s in preview.json()["steps"]]
    assert steps[:4] == [
        ("stack:app", "stack_plan"),
        ("stack:app", "approve"),
        ("stack:app", "stack_apply"),
        ("stack:app", "stack_verify"),
    ]
    deploys = [subject for subject, kind in steps if kind == "deploy"]
    assert deploys == ["service:api", "service:web"]


def test_the_full_rollback_waits_for_the_plan_approval_then_rolls_back_in_order(
    environment: Path, stack: Stack
) -> None:
    waiting = backout(environment, "rollback", "--full", "--yes", "--json", "--reason", "bad day")

    assert waiting.code == AWAITING_APPROVAL, waiting
    assert '"app:v2" -> "app:v1"' in waiting.json()["message"]
    assert stack.outputs()["image"] == "app:v2"

    done = backout(environment, "approve", str(waiting.json()["run_id"]))

    assert done.code == 0, done
    assert stack.outputs()["image"] == "app:v1"
    detail = backout(environment, "run", "show", str(waiting.json()["run_id"]), "--json").json()
    order = [s["subject"] for s in detail["steps"] if s["kind"] in ("stack_apply", "deploy")]
    assert order == ["stack:app", "service:api", "service:web"]
    assert all(s["state"] in ("succeeded", "skipped") for s in detail["steps"])
    assert len(backout(environment, "incidents", "--json").json()) == 1
