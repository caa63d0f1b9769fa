"""`backout quickstart --scenario platforms`, as a user runs it: the demo's backend behind a
real HAProxy in two process slots, its front end in S3 behind CloudFront (moto's server), its
infrastructure in Terraform and its DNS name in a real BIND; a good then a bad release of all of
it; the trigger fires; the whole environment is rolled back under steady client traffic."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backout.errors import ExitCode

BACKOUT = str(Path(sys.executable).parent / "backout")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def backout(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BACKOUT, *args], capture_output=True, text=True, timeout=220, check=False, env=env
    )


def needs_terraform() -> None:
    if shutil.which("terraform") is None:  # as the infrastructure tests (tests/infra)
        pytest.skip("terraform is not on the PATH (Debian has no package; MACHINE.md has it)")


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    needs_terraform()
    workspace = tmp_path_factory.mktemp("platforms") / "ws"
    done = backout("quickstart", "--scenario", "platforms", "--workspace", str(workspace), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_whole_environment_comes_back_with_no_failed_request(story: dict[str, Any]) -> None:
    assert story["run_state"] == "succeeded"
    assert story["services_rolled_back"] == ["backend", "frontend"]  # dependency first
    assert story["failed_requests"] == 0, story["failures"]
    assert story["requests_during_rollback"] > 100
    # The traffic crossed the switch: some answers from the bad release, then the good one's.
    assert set(story["served_by_version"]) == {"1.0.0", "1.1.0"}


def test_infrastructure_dns_and_cdn_are_restored(story: dict[str, Any]) -> None:
    assert story["infrastructure_restored"] is True
    assert story["dns_restored"] is True
    assert story["cdn_invalidated"] is True
    state = Path(story["workspace"]) / "infra" / "app" / "terraform.tfstate"
    outputs = json.loads(state.read_text())["outputs"]
    assert outputs["api_image"]["value"] == "badminton-api:1.0.0"


def test_the_run_went_stack_then_services_then_dns(story: dict[str, Any]) -> None:
    order = [s["kind"] for s in story["steps"] if s["state"] == "succeeded"]
    assert order.index("stack_apply") < order.index("deploy_beside") < order.index("dns_set")
    beside = order.index("deploy_beside")
    assert order.index("restore_traffic", beside) < order.index("drain", beside)
    assert order.index("drain", beside) < order.index("retire", beside)


def test_the_incident_measures_detection_and_recovery(story: dict[str, Any]) -> None:
    assert story["incident_id"] is not None
    assert 0 < story["time_to_detect_s"] < 60
    assert 0 < story["time_to_recover_s"] < 120
    shown = backout("incident", "show", str(story["incident_id"]), "--json",
                    "--config", story["config"])  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["time_to_recover_s"] == story["time_to_recover_s"]


def test_a_missing_program_names_the_package_to_install(tmp_path: Path) -> None:
    needs_terraform()
    # A PATH with git (the demo repository needs it) and terraform, but no HAProxy or BIND.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("git", "terraform"):
        found = shutil.which(program)
        assert found is not None
        (bin_dir / program).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}

    done = backout("quickstart", "--scenario", "platforms", "--workspace",
                   str(tmp_path / "ws"), "--json", env=env)  # fmt: skip

    assert done.returncode == ExitCode.UNAVAILABLE, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert "haproxy" in error["message"]
    assert "apt-get install haproxy" in error["hint"]
