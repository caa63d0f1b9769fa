"""A team's setup: backout's state in a real PostgreSQL, shared by concurrent CLI processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from backout.clock import wait_until
from backout.operations.deploy import record_release
from backout.releases import ReleaseStatus
from backout.runtime import Runtime

BACKOUT = str(Path(sys.executable).parent / "backout")

pytestmark = pytest.mark.postgres


@pytest.fixture
def config_file(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    service = {
        "tier": "critical",
        # A deploy runs until the test lets it end: the two processes surely overlap.
        "driver": {"type": "fake", "hold_until": "deploy-may-end"},
        "monitor": "0s",
    }
    data = {"project": "team", "services": {"api": service}}
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("BACKOUT_DATABASE_URL", postgres_url)
    runtime = Runtime.open(path)
    record_release(runtime, "api", "1.0.0", ref="v1.0.0", actor="ci", status=ReleaseStatus.GOOD)
    record_release(runtime, "api", "1.1.0", ref="v1.1.0", actor="ci", status=ReleaseStatus.LIVE)
    runtime.close()
    return path


def test_two_rollbacks_of_one_service_from_two_processes_one_runs(config_file: Path) -> None:
    command = [BACKOUT, "rollback", "api", "--yes", "--config", str(config_file)]
    first, second = (
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
        )
        for _ in range(2)
    )
    assert wait_until(lambda: first.poll() is not None or second.poll() is not None, 60)
    (config_file.parent / "deploy-may-end").touch()  # only once one has given up
    outcomes = sorted(
        (process.wait(timeout=60), process.stderr.read() if process.stderr else "")
        for process in (first, second)
    )
    assert [code for code, _ in outcomes] == [0, 5]
    assert "is locked by run" in outcomes[1][1]
    runtime = Runtime.open(config_file)
    try:
        assert runtime.driver("api").current() == "1.0.0"
    finally:
        runtime.close()
