"""The `infrastructure:` section and the terraform tool's mistakes: each named by its key or
with terraform's own words, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backout.config import load_config
from backout.errors import ConfigError
from backout.infra import InfraError, stack_tool_for
from backout.runtime import validate_plugins
from tests.infra.conftest import Stack, backout, needs_terraform, write_config


def _problems(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        validate_plugins(load_config(path))
    return "\n".join(raised.value.problems)


def test_a_stack_named_twice_is_refused_by_its_key(tmp_path: Path) -> None:
    stack = {"name": "net", "tool": {"type": "fake"}}
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, stack, stack))
    assert "infrastructure[1].name: 'net' is listed already" in str(raised.value.problems)


def test_an_unknown_tool_and_a_tool_key_are_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"name": "net", "tool": {"type": "pulumi"}})
    assert "infrastructure[0].tool.type: unknown infrastructure tool 'pulumi'" in _problems(path)
    path = write_config(tmp_path, {"name": "net", "tool": {"type": "terraform"}})
    assert "infrastructure[0].tool.dir" in _problems(path)


def test_a_missing_stack_folder_is_named_with_its_key(tmp_path: Path) -> None:
    needs_terraform()
    path = write_config(tmp_path, {"name": "net", "tool": {"type": "terraform", "dir": "nope"}})
    tool = stack_tool_for(load_config(path), "net")
    with pytest.raises(InfraError, match=r"nope does not exist \(infrastructure\[0\]\.tool\.dir\)"):
        tool.outputs()


def test_recording_without_variables_names_what_is_missing(tmp_path: Path) -> None:
    write_config(tmp_path, {"name": "net", "tool": {"type": "fake"}})
    done = backout(tmp_path, "infra", "record", "net")
    assert done.code != 0
    assert "infrastructure[0].variables: not set, and no --vars given" in done.stderr
    (tmp_path / "v.json").write_text("[1, 2]")
    done = backout(tmp_path, "infra", "record", "net", "--vars", "v.json")
    assert "holds no JSON object of variables" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_terraform_tool_plans_applies_and_reads_outputs(tmp_path: Path, stack: Stack) -> None:
    stack.apply({"image": "app:v1"})
    path = write_config(
        tmp_path, {"name": "app", "tool": {"type": "terraform", "dir": "infra/app"}}
    )
    tool = stack_tool_for(load_config(path), "app")
    assert tool.matches({"image": "app:v1"})
    assert not tool.matches({"image": "app:v2"})

    plan = tool.plan({"image": "app:v2"}, tmp_path / "plans" / "p.tfplan")
    assert plan.changes
    assert plan.summary == "1 to add, 0 to change, 1 to destroy"
    assert tool.outputs()["image"] == "app:v1", "a plan changes nothing"
    tool.apply(plan.saved)

    assert tool.outputs() == {"image": "app:v2", "replicas": 1}
    with pytest.raises(InfraError, match="stale"):
        tool.apply(plan.saved)  # a plan is applied once: then it is stale
    assert json.loads((tmp_path / "plans" / "p.tfvars.json").read_text()) == {"image": "app:v2"}
