"""The `process` driver against real processes: signals, groups, ports, pid reuse, logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from driver_helpers import (
    answer,
    build_driver,
    free_port,
    pid_alive,
    python_command,
    run_python,
    write_server,
)

from backout.drivers import Driver, ReleaseRef, RunState, SlotCapable, reap_exited_children
from backout.errors import ConfigError, DriverError

V1 = ReleaseRef("web", "1.0.0")
V2 = ReleaseRef("web", "1.1.0")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return write_server(tmp_path / "app")


def process_driver(tmp_path: Path, **settings: Any) -> Driver:
    return build_driver("process", {"cwd": "app", "stop_timeout": "3s", **settings}, tmp_path)


def served_pid(port: int) -> int:
    body = answer(port)
    assert body is not None, f"nothing answers on port {port}"
    return int(body.split()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def test_stop_sends_sigkill_to_a_process_that_ignores_sigterm(tmp_path: Path, app: Path) -> None:
    port = free_port()
    command = "{python} server.py {port} {version} --ignore-sigterm"
    driver = process_driver(tmp_path, command=command, port=port, stop_timeout="300ms")
    driver.deploy(V1)
    pid = served_pid(port)
    started = time.monotonic()
    driver.stop()
    assert time.monotonic() - started >= 0.3, "it waited stop_timeout before SIGKILL"
    assert not pid_alive(pid)
    log = (tmp_path / ".backout" / "logs" / "web.log").read_text()
    assert "SIGKILL after ignoring SIGTERM for 300ms" in log


def test_stop_ends_the_whole_process_group(tmp_path: Path, app: Path) -> None:
    code = textwrap.dedent("""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("child.pid", "w").write(str(child.pid))
        time.sleep(60)
    """)
    driver = process_driver(tmp_path, command=python_command(code))
    driver.deploy(V1)
    pid_file = app / "child.pid"
    assert wait_for(lambda: pid_file.exists() and pid_file.read_text() != "")
    child = int(pid_file.read_text())
    driver.stop()
    assert not pid_alive(child), "the service's own child went with it"


def test_a_process_that_exits_at_once_fails_the_deploy_with_its_output(
    tmp_path: Path, app: Path
) -> None:
    code = "import sys; print('config error: DATABASE_URL is not set'); sys.exit(3)"
    # A grace wider than the interpreter's start on a loaded machine: the exit counts however
    # long the start took (the default counts only an exit within 100 ms).
    driver = process_driver(tmp_path, command=python_command(code), start_grace="10s")
    with pytest.raises(DriverError) as raised:
        driver.deploy(V1)
    assert "exited with code 3" in str(raised.value)
    assert "DATABASE_URL is not set" in str(raised.value)
    assert driver.current() is None
    status = driver.status()
    assert (status.state, status.version) == (RunState.FAILED, "1.0.0")
    assert "DATABASE_URL is not set" in status.detail


def test_a_process_that_dies_within_start_grace_fails_the_deploy(tmp_path: Path, app: Path) -> None:
    code = "import time, sys; time.sleep(0.3); sys.exit(1)"
    driver = process_driver(tmp_path, command=python_command(code), start_grace="2s")
    with pytest.raises(DriverError, match="exited with code 1"):
        driver.deploy(V1)


def test_a_process_that_dies_after_start_is_reported_failed(tmp_path: Path, app: Path) -> None:
    die = tmp_path / "die-now"
    code = (
        "import os, time; print('out of memory', flush=True)\n"
        f"while not os.path.exists({str(die)!r}): time.sleep(0.02)"
    )
    driver = process_driver(tmp_path, command=python_command(code))
    driver.deploy(V1)
    assert driver.status().state is RunState.RUNNING
    die.touch()
    assert wait_for(lambda: driver.status().state is RunState.FAILED)
    assert driver.current() is None
    assert "out of memory" in driver.status().detail
    die.unlink()
    driver.deploy(V1)
    assert driver.current() == "1.0.0", "a failed version is started again"
    driver.stop()


def test_a_service_ended_by_another_process_leaves_no_zombie_behind_its_parent(
    tmp_path: Path, app: Path
) -> None:
    port = free_port()
    driver = process_driver(tmp_path, command="{python} server.py {port} {version}", port=port)
    driver.deploy(V1)
    pid = served_pid(port)
    os.killpg(pid, signal.SIGKILL)  # as `backout stop` from another process ends it
    assert wait_for(lambda: process_state(pid) == "Z"), "a zombie until its parent reaps it"

    reap_exited_children()

    assert process_state(pid) is None


def process_state(pid: int) -> str | None:
    """The state letter /proc gives `pid` (Z: a zombie), None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rpartition(")")[2].split()[0]


def test_a_reused_pid_is_not_mistaken_for_the_service(
    tmp_path: Path, app: Path, spawn: Callable[..., Any]
) -> None:
    port = free_port()
    driver = process_driver(tmp_path, command="{python} server.py {port} {version}", port=port)
    driver.deploy(V1)
    record_file = tmp_path / ".backout" / "drivers" / "web" / "process.json"
    record = json.loads(record_file.read_text())
    stranger = spawn(sys.executable, "-c", "import time; time.sleep(60)")
    driver.stop()
    # As if the service had died and the kernel had given its pid to the stranger:
    record.update(pid=stranger.pid, stopped_at=None)
    record_file.write_text(json.dumps(record))
    assert driver.current() is None
    assert driver.status().state is RunState.FAILED
    driver.deploy(V2)
    assert driver.current() == "1.1.0"
    assert stranger.poll() is None, "backout never signals a process it did not start"


def test_deploy_waits_for_the_port_to_be_released(tmp_path: Path, app: Path) -> None:
    port = free_port()
    holder = socket.create_server(("127.0.0.1", port))
    driver = process_driver(tmp_path, command="{python} server.py {port} {version}", port=port)
    started = time.monotonic()
    threading.Timer(0.3, holder.close).start()
    driver.deploy(V1)
    assert time.monotonic() - started >= 0.3
    assert answer(port) is not None


def test_a_port_held_by_another_program_is_a_retryable_error(tmp_path: Path, app: Path) -> None:
    port = free_port()
    command = "{python} server.py {port} {version}"
    driver = process_driver(tmp_path, command=command, port=port, stop_timeout="200ms")
    with socket.create_server(("127.0.0.1", port)), pytest.raises(DriverError) as raised:
        driver.deploy(V1)
    assert raised.value.retryable
    assert f"port {port}" in str(raised.value)
    assert driver.current() is None


def test_the_service_outlives_the_backout_process_that_started_it(
    tmp_path: Path, app: Path
) -> None:
    port = free_port()
    settings = {"command": "{python} server.py {port} {version}", "cwd": "app", "port": port}
    deployed_elsewhere = run_python(
        "import pathlib, driver_helpers\n"
        "from backout.drivers import ReleaseRef\n"
        f"driver = driver_helpers.build_driver('process', {settings!r}, pathlib.Path.cwd())\n"
        "driver.deploy(ReleaseRef('web', '1.0.0'))\n",
        cwd=tmp_path,
    )
    assert deployed_elsewhere.returncode == 0, deployed_elsewhere.stderr
    driver = build_driver("process", settings, tmp_path)
    assert driver.current() == "1.0.0"
    pid = served_pid(port)
    driver.stop()
    assert not pid_alive(pid)


def test_command_placeholders_env_and_release_folder(tmp_path: Path, app: Path) -> None:
    release_folder = tmp_path / "releases" / "1.0.0"
    release_folder.mkdir(parents=True)
    code = "import os, sys, time; print(os.environ['GREETING'], *sys.argv[1:], flush=True)\n"
    code += "time.sleep(60)"
    port = free_port()
    driver = process_driver(
        tmp_path,
        command=python_command(code, "{version}", "{release_dir}", "{port}", "{not-a-placeholder}"),
        port=port,
        env={"GREETING": "hello"},
    )
    driver.deploy(ReleaseRef("web", "1.0.0", ref=str(release_folder)))
    log = tmp_path / ".backout" / "logs" / "web.log"
    expected = f"hello 1.0.0 {release_folder} {port} {{not-a-placeholder}}"
    assert wait_for(lambda: expected in log.read_text()), log.read_text()


def test_the_log_keeps_the_output_of_every_start(tmp_path: Path, app: Path) -> None:
    port = free_port()
    driver = process_driver(tmp_path, command="{python} server.py {port} {version}", port=port)
    log = tmp_path / ".backout" / "logs" / "web.log"
    driver.deploy(V1)
    # The server listens before it prints: wait for its line before replacing it.
    assert wait_for(lambda: f"serving 1.0.0 on {port}" in log.read_text())
    driver.deploy(V2)
    assert wait_for(lambda: f"serving 1.1.0 on {port}" in log.read_text())
    assert f"serving 1.0.0 on {port}" in log.read_text()


def test_status_says_whether_the_port_listens(tmp_path: Path, app: Path) -> None:
    port = free_port()
    driver = process_driver(tmp_path, command="{python} server.py {port} {version}", port=port)
    driver.deploy(V1)
    assert answer(port) is not None
    assert f"listening on port {port}" in driver.status().detail


def test_prepare_refuses_a_program_that_does_not_exist(tmp_path: Path, app: Path) -> None:
    driver = process_driver(tmp_path, command="no-such-program --serve")
    with pytest.raises(DriverError, match="'no-such-program' not found"):
        driver.prepare(V1)
    with pytest.raises(DriverError, match="no-such-program"):
        driver.deploy(V1)


def test_a_missing_working_folder_is_an_error(tmp_path: Path) -> None:
    driver = build_driver("process", {"command": "{python} server.py", "cwd": "gone"}, tmp_path)
    with pytest.raises(DriverError, match="no folder"):
        driver.deploy(V1)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"command": "{python} server.py {port}"},
            "services.web.driver.command: the command uses {port}",
        ),
        ({"command": ""}, "services.web.driver.command: the command is empty"),
        ({"command": "x", "stop_timeout": "soon"}, "services.web.driver.stop_timeout"),
        ({"command": "x", "colour": "red"}, "services.web.driver.colour"),
    ],
)
def test_invalid_settings_are_config_errors_naming_the_key(
    tmp_path: Path, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        build_driver("process", settings, tmp_path)
    assert problem in str(raised.value)


def test_two_slots_run_two_versions_side_by_side(tmp_path: Path, app: Path) -> None:
    slots = [free_port(), free_port()]
    driver = process_driver(tmp_path, command="{python} server.py {port} {version}", slots=slots)
    assert isinstance(driver, SlotCapable)

    driver.deploy(V2)
    assert driver.port_of("1.1.0") == slots[0]
    assert driver.deploy_beside(V1) == slots[1]
    assert driver.deploy_beside(V1) == slots[1]  # again: stays where it is
    assert answer(slots[0]) is not None
    assert answer(slots[1]) is not None
    assert driver.current() == "1.0.0"  # the one started last

    with pytest.raises(DriverError, match="both slots of web are busy"):
        driver.deploy_beside(ReleaseRef("web", "2.0.0"))

    driver.retire("1.1.0")
    assert wait_for(lambda: answer(slots[0]) is None)
    assert driver.port_of("1.1.0") is None
    assert driver.port_of("1.0.0") == slots[1]
    driver.retire("1.1.0")  # again: a no-op
    driver.stop()
    assert wait_for(lambda: answer(slots[1]) is None)


def test_slots_are_two_different_ports(tmp_path: Path, app: Path) -> None:
    with pytest.raises(ConfigError, match="slots are two different ports"):
        process_driver(tmp_path, command="{python} server.py {port}", slots=[8001, 8001])
