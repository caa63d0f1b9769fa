"""The pm2 driver's own behaviours, against a real pm2 daemon per test (the shared guarantees
are in test_driver_contract.py): its errors, crashed apps, release folders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from driver_helpers import answer, build_driver, free_port
from pm2_helpers import PM2, pm2_settings, write_pm2_app

from backout.drivers import Driver, ReleaseRef, RunState
from backout.errors import ConfigError, DriverError


def pm2_driver(tmp_path: Path, home: Path, port: int, **overrides: Any) -> Driver:
    return build_driver("pm2", pm2_settings(home, port, **overrides), tmp_path)


def release(version: str, ref: str | None = None) -> ReleaseRef:
    return ReleaseRef(service="web", version=version, ref=ref)


def test_reading_the_state_never_starts_a_pm2_daemon(tmp_path: Path, pm2_home: Path) -> None:
    driver = pm2_driver(tmp_path, pm2_home, free_port())
    status = driver.status()
    assert (status.state, status.version) == (RunState.STOPPED, None)
    assert str(pm2_home) in status.detail
    driver.stop()
    assert not (pm2_home / "pm2.pid").exists(), "no daemon was spawned"


def test_a_missing_ecosystem_file_is_named(tmp_path: Path, pm2_home: Path) -> None:
    (tmp_path / "app").mkdir()
    driver = pm2_driver(tmp_path, pm2_home, free_port(), ecosystem="deploy/pm2.config.js")
    for attempt in (driver.prepare, driver.deploy):
        with pytest.raises(DriverError) as raised:
            attempt(release("1.0.0"))
        assert f"no ecosystem file {tmp_path / 'app' / 'deploy' / 'pm2.config.js'}" in str(
            raised.value
        )
        assert "services.web.driver.ecosystem" in str(raised.value)
    assert not (pm2_home / "pm2.pid").exists()


def test_a_pm2_program_that_does_not_exist_is_a_config_error(
    tmp_path: Path, pm2_home: Path
) -> None:
    write_pm2_app(tmp_path / "app")
    driver = pm2_driver(tmp_path, pm2_home, free_port(), pm2="tools/pm2")
    with pytest.raises(ConfigError) as raised:
        driver.deploy(release("1.0.0"))
    message = str(raised.value)
    assert "services.web.driver.pm2: pm2 not found: 'tools/pm2'" in message
    assert "npm install pm2" in message


def test_without_a_setting_pm2_is_looked_for_on_path_then_in_node_modules(
    tmp_path: Path, pm2_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_only = tmp_path / "bin"
    node_only.mkdir()
    node = shutil.which("node")
    assert node is not None
    (node_only / "node").symlink_to(node)
    monkeypatch.setenv("PATH", str(node_only))  # node (pm2's interpreter), and no pm2
    write_pm2_app(tmp_path / "app")
    port = free_port()
    driver = pm2_driver(tmp_path, pm2_home, port, pm2=None)
    with pytest.raises(ConfigError) as raised:
        driver.deploy(release("1.0.0"))
    assert "pm2 is not on PATH, nor at" in str(raised.value)
    assert str(tmp_path / "node_modules" / ".bin" / "pm2") in str(raised.value)

    (tmp_path / "node_modules" / ".bin").mkdir(parents=True)
    (tmp_path / "node_modules" / ".bin" / "pm2").symlink_to(PM2)
    pm2_driver(tmp_path, pm2_home, port, pm2=None).deploy(release("1.0.0"))
    assert (answer(port) or "").startswith("1.0.0 ")


def test_a_pm2_home_too_long_for_its_sockets_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        pm2_driver(tmp_path, tmp_path / ("x" * 120), free_port())
    assert "services.web.driver.pm2_home" in str(raised.value)
    assert "too long for pm2's sockets" in str(raised.value)


@pytest.mark.parametrize("app", ["all", "3"])
def test_an_app_name_pm2_reads_as_no_app_name_is_refused(tmp_path: Path, app: str) -> None:
    with pytest.raises(ConfigError) as raised:
        pm2_driver(tmp_path, tmp_path / "pm2", free_port(), app=app)
    assert f"services.web.driver.app: pm2 reads {app!r} as no app's name" in str(raised.value)


def test_an_app_that_keeps_crashing_is_failed_with_its_error_log(
    tmp_path: Path, pm2_home: Path
) -> None:
    crash_if = tmp_path / "break-the-app"
    write_pm2_app(tmp_path / "app", env={"CRASH_IF": str(crash_if)}, max_restarts=2)
    port = free_port()
    driver = pm2_driver(tmp_path, pm2_home, port)
    driver.deploy(release("1.0.0"))
    served = answer(port)
    assert served is not None
    crash_if.touch()
    os.kill(int(served.split()[1]), signal.SIGKILL)  # pm2 restarts it; every restart dies

    status = wait_for_state(driver, RunState.FAILED)
    assert status.version == "1.0.0"
    assert f"crash requested by {crash_if}" in status.detail
    assert driver.current() is None


def test_a_release_that_dies_at_start_fails_the_deploy_and_is_not_left_restarting(
    tmp_path: Path, pm2_home: Path
) -> None:
    crash_if = tmp_path / "break-the-app"
    crash_if.touch()
    write_pm2_app(tmp_path / "app", env={"CRASH_IF": str(crash_if)})
    driver = pm2_driver(tmp_path, pm2_home, free_port())
    with pytest.raises(DriverError) as raised:
        driver.deploy(release("1.0.0"))
    assert "web 1.0.0 died right after pm2 started it" in str(raised.value)
    assert f"crash requested by {crash_if}" in str(raised.value)
    assert driver.status().state is RunState.STOPPED


# Dies at its first start; pm2's restart of it waits (not listening) and, when stopped, fills
# the error log, as a Python app interrupted mid-import does with its KeyboardInterrupt.
FIRST_START_DIES = """\
import os, signal, sys, time
if not os.path.exists("started-once"):
    open("started-once", "w").close()
    print("the first start died: missing DATABASE_URL", file=sys.stderr, flush=True)
    time.sleep(0.5)  # pm2 drops what it reads of a process's output after its exit
    sys.exit(1)
def noisy_stop(signum, frame):
    sys.stderr.write("interrupted while starting\\n" * 40)
    sys.exit(1)
signal.signal(signal.SIGINT, noisy_stop)
while True:
    time.sleep(0.05)
"""


def test_the_deploy_error_shows_why_the_release_died_not_how_its_restart_was_stopped(
    tmp_path: Path, pm2_home: Path
) -> None:
    folder = write_pm2_app(tmp_path / "app", script="first_start_dies.py")
    (folder / "first_start_dies.py").write_text(FIRST_START_DIES)
    driver = pm2_driver(tmp_path, pm2_home, free_port())
    with pytest.raises(DriverError) as raised:
        driver.deploy(release("1.0.0"))
    assert "the first start died: missing DATABASE_URL" in str(raised.value)
    assert "interrupted while starting" not in str(raised.value)
    assert driver.status().state is RunState.STOPPED


def test_an_app_name_the_ecosystem_does_not_have_is_named(tmp_path: Path, pm2_home: Path) -> None:
    write_pm2_app(tmp_path / "app", name="backend")
    driver = pm2_driver(tmp_path, pm2_home, free_port(), app="frontend")
    with pytest.raises(DriverError) as raised:
        driver.deploy(release("1.0.0"))
    assert "started no app named 'frontend'" in str(raised.value)
    assert "set `app:`" in str(raised.value)


def test_each_release_starts_from_its_own_folder(tmp_path: Path, pm2_home: Path) -> None:
    """pm2 remembers an app's folder: a deploy must not restart the old release's files."""
    port = free_port()
    for version in ("1.0.0", "1.1.0"):
        write_pm2_app(tmp_path / "releases" / version)
        (tmp_path / "releases" / version / "crashy.py").write_text(
            f"import runpy, sys\nsys.argv[2] = 'from-{version}'\n"
            "runpy.run_path('server.py', run_name='__main__')\n"
        )
    driver = pm2_driver(tmp_path, pm2_home, port)
    driver.deploy(release("1.0.0", ref="releases/1.0.0"))
    assert (answer(port) or "").startswith("from-1.0.0 ")
    driver.deploy(release("1.1.0", ref="releases/1.1.0"))
    assert (answer(port) or "").startswith("from-1.1.0 ")
    assert driver.current() == "1.1.0"


def test_backouts_own_settings_are_not_handed_to_pm2(
    tmp_path: Path, pm2_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKOUT_DATABASE_URL", "postgresql://backout:s3cret-pw@db/backout")
    write_pm2_app(tmp_path / "app")
    driver = pm2_driver(tmp_path, pm2_home, free_port())
    driver.deploy(release("1.0.0"))
    listed = subprocess.run(
        [str(PM2), "jlist"],
        env={**os.environ, "PM2_HOME": str(pm2_home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"BACKOUT_VERSION":"1.0.0"' in listed
    assert "s3cret-pw" not in listed
    assert "s3cret-pw" not in "".join(p.read_text() for p in pm2_home.rglob("*.log"))


def wait_for_state(driver: Driver, state: RunState, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = driver.status()
        if status.state is state or time.monotonic() >= deadline:
            assert status.state is state, status.detail
            return status
        time.sleep(0.1)
