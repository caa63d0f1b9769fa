"""A ramp-down on the demo app, end to end: the bad release reads its waitlist flag from a real
`backout serve` by push; `backout flags ramp-down --stages 50,0` lowers it, the error-rate
trigger fires during the hold at 50 %, and the plan goes straight to 0 %."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backout.runtime import Runtime

BACKOUT = str(Path(sys.executable).parent / "backout")

pytestmark = pytest.mark.slow


def backout(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BACKOUT, *args], capture_output=True, text=True, cwd=workspace, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The flags quickstart's workspace, its app (1.1.0) and `backout serve` left running."""
    workspace = tmp_path_factory.mktemp("ramp-down") / "ws"
    done = subprocess.run(
        [
            *(BACKOUT, "quickstart", "--scenario", "flags", "--json", "--keep-running"),
            *("--workspace", str(workspace)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    story: dict[str, Any] = json.loads(done.stdout) if done.returncode == 0 else {}
    try:
        assert done.returncode == 0, done.stderr + done.stdout
        yield story
    finally:
        if story.get("serve_pid"):
            os.kill(story["serve_pid"], signal.SIGTERM)
        runtime = Runtime.open(workspace / "backout.yaml")
        try:
            runtime.driver("backend").stop()
        finally:
            runtime.close()


def test_a_trigger_firing_at_50_percent_sends_the_ramp_down_straight_to_0(
    demo: dict[str, Any],
) -> None:
    workspace = Path(demo["workspace"])
    for command in (
        ("flags", "rollout", "waitlist", "100", "--reason", "try the waitlist again"),
        ("flags", "enable", "waitlist", "--reason", "try the waitlist again"),
    ):
        assert backout(workspace, *command).returncode == 0

    ramp = backout(
        workspace,
        *("flags", "ramp-down", "waitlist", "--stages", "50,0", "--hold", "4s"),
        *("--reason", "waitlist errors", "--json"),
    )

    assert ramp.returncode == 0, ramp.stderr + ramp.stdout
    run = json.loads(
        backout(workspace, "run", "show", str(json.loads(ramp.stdout)["run_id"]), "--json").stdout
    )
    steps = [(s["kind"], s["state"]) for s in run["steps"]]
    assert steps[0] == ("flag_set", "succeeded")
    assert steps[1] == ("flag_hold", "succeeded")
    assert "fired" in run["steps"][1]["message"]
    assert all(state == "skipped" for _, state in steps[2:]), steps
    flag = json.loads(backout(workspace, "flags", "show", "waitlist", "--json").stdout)
    assert flag["enabled"] is False
    reasons = [c["reason"] for c in flag["changes"]]
    assert any("waitlist errors" in (r or "") for r in reasons)
    [service] = json.loads(backout(workspace, "status", "--json").stdout)
    assert service["live_version"] == "1.1.0", "no redeploy"
