"""`backout quickstart`, as a user runs it: a real demo app, a real bad release, a real rollback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BACKOUT = str(Path(sys.executable).parent / "backout")

pytestmark = pytest.mark.slow


def backout(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BACKOUT, *args], capture_output=True, text=True, cwd=cwd, timeout=180, check=False
    )


def as_json(*args: str, cwd: Path | None = None) -> Any:
    done = backout(*args, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workspace = tmp_path_factory.mktemp("quickstart") / "ws"
    result: dict[str, Any] = as_json("quickstart", "--workspace", str(workspace))
    return result


def test_the_bad_release_is_detected_and_rolled_back_to_the_good_one(story: dict[str, Any]) -> None:
    assert story["rolled_back"] is True
    assert (story["from_version"], story["to_version"]) == ("1.1.0", "1.0.0")
    assert story["rto_s"] == 900
    assert 0 < story["time_to_detect_s"] < 60
    assert 0 < story["time_to_recover_s"] < 60
    assert any("rolling back" in decision for decision in story["decisions"])


def test_the_plan_ran_the_runbook_steps_in_order(story: dict[str, Any]) -> None:
    steps = [(s["kind"], s["state"]) for s in story["steps"]]
    assert steps == [
        ("drain", "skipped"),
        ("deploy", "succeeded"),
        ("health", "succeeded"),
        ("restore_traffic", "skipped"),
        ("monitor", "succeeded"),
        ("mark_release", "succeeded"),
    ]
    assert "router 'none'" in story["steps"][0]["message"]


def test_the_workspace_answers_every_command_afterwards(story: dict[str, Any]) -> None:
    workspace = Path(story["workspace"])
    [service] = as_json("status", cwd=workspace)
    assert service["service"] == "backend"
    assert service["live_version"] == "1.0.0"
    assert service["last_known_good"] == "1.0.0"
    history = {r["version"]: r["status"] for r in as_json("releases", "backend", cwd=workspace)}
    assert history == {"1.0.0": "good", "1.1.0": "rolled_back"}
    incident = as_json("incident", "show", str(story["incident_id"]), cwd=workspace)
    kinds = [event["kind"] for event in incident["timeline"]]
    assert kinds[0] == "detected"
    assert {"run_planned", "recovered", "run_succeeded", "resolved"} <= set(kinds)
    assert incident["status"] == "resolved"


def test_the_demo_app_is_stopped_afterwards(story: dict[str, Any]) -> None:
    [service] = as_json("status", cwd=Path(story["workspace"]))
    assert service["running"] == "stopped"
