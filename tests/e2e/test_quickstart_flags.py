"""`backout quickstart --scenario flags`, as a user runs it: the demo's bad release reads its
waitlist flag from a real `backout serve` by push; the trigger fires, flag first turns the flag
off, the error rate falls back, and nothing is redeployed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BACKOUT = str(Path(sys.executable).parent / "backout")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workspace = tmp_path_factory.mktemp("quickstart-flags") / "ws"
    done = subprocess.run(
        [BACKOUT, "quickstart", "--scenario", "flags", "--json", "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def backout_json(story: dict[str, Any], *args: str) -> Any:
    done = subprocess.run(
        [BACKOUT, *args, "--json"],
        capture_output=True,
        text=True,
        cwd=story["workspace"],
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_flag_mitigates_without_a_redeploy(story: dict[str, Any]) -> None:
    assert story["mitigated_by"] == "flag"
    assert story["flag"] == "waitlist"
    assert story["redeployed"] is False
    assert 0 < story["time_to_detect_s"] < 60
    assert story["time_to_mitigate_s"] is not None
    assert 0 < story["time_to_mitigate_s"] <= 5, "the app hears of the change by push"


def test_the_bad_release_still_runs_with_its_flag_off(story: dict[str, Any]) -> None:
    [service] = backout_json(story, "status")
    assert service["live_version"] == "1.1.0"
    flag = backout_json(story, "flags", "show", "waitlist")
    assert flag["enabled"] is False
    [change] = flag["changes"]
    assert change["actor"] == "backout-watch"
    assert change["incident_id"] == story["incident_id"]


def test_the_incident_timeline_tells_the_flag_first_story(story: dict[str, Any]) -> None:
    incident = backout_json(story, "incident", "show", str(story["incident_id"]))
    kinds = [event["kind"] for event in incident["timeline"]]
    assert kinds[0] == "detected"
    assert "flag_changed" in kinds
    assert incident["recovered_at"] is not None
    runs = backout_json(story, "runs")
    assert {run["kind"] for run in runs} == {"deploy", "feature_flag"}


def test_nothing_is_left_running(story: dict[str, Any]) -> None:
    [service] = backout_json(story, "status")
    assert service["running"] == "stopped"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert f"--config {story['config']}" not in ps.stdout, "backout serve was stopped"
