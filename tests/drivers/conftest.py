"""Fixtures of the driver tests. Every process a test starts is killed at teardown, whether a
driver recorded it or the test spawned it itself."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from driver_helpers import BUILD, commit_version, git, write_server
from pm2_helpers import pm2_home_for_test

from backout.clock import wait_until
from backout.drivers._pids import group_alive, group_is_ours, signal_group
from backout.drivers._process import ProcessRecord
from tests.aws_support import aws_env, moto  # noqa: F401 - fixtures of the AWS drivers' tests
from tests.docker_support import dockerd, dockerd_session  # noqa: F401 - fixtures of docker tests
from tests.kubernetes_fake_api import fake_kube_api  # noqa: F401 - the kubernetes driver's tests


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    """A git repository at tmp_path/app-repo with tags v1.0.0, v1.1.0 and (no v) 1.2.0."""
    repo = write_server(tmp_path / "app-repo")
    (repo / "build.py").write_text(BUILD)
    git(repo, "init", "-q", "-b", "main")
    commit_version(repo, "1.0.0", "v1.0.0")
    commit_version(repo, "1.1.0", "v1.1.0")
    commit_version(repo, "1.2.0", "1.2.0")
    return repo


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start a process the test owns; it is killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


@pytest.fixture(autouse=True)
def _kill_recorded_services(tmp_path: Path) -> Iterator[None]:
    """After each test, SIGKILL every process group a driver recorded under tmp_path."""
    yield
    for path in tmp_path.rglob("drivers/*/process.json"):
        record = ProcessRecord.from_json(path.read_text())
        pgid = record.pid
        if group_is_ours(pgid, record.start_ticks) and group_alive(pgid):
            signal_group(pgid, signal.SIGKILL)
            assert wait_until(lambda: not group_alive(pgid), 5)  # noqa: B023 - called at once


@pytest.fixture
def pm2_home() -> Iterator[Path]:
    """A real pm2 daemon's home of the test's own; the daemon is killed at teardown."""
    with pm2_home_for_test() as home:
        yield home
