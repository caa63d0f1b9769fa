"""Helpers of the demo app tests: run driver-style commands, start the app, wait for it."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backout.demo import CONDITION_ENVS, HEALTH_PATH, START_COMMAND

STARTUP_DEADLINE_S = 20.0
DEMO_ENV = (
    "BADMINTON_DB",
    "BADMINTON_DATABASE_URL",
    "BADMINTON_FAULT_RATE",
    "BADMINTON_EXTRA_LATENCY_MS",
    "BADMINTON_BOOKING_FAULT_RATE",
    *CONDITION_ENVS,
)


@dataclass(frozen=True)
class RunningApp:
    """A demo app process answering on a loopback port."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)


def run_commands(commands: list[str], cwd: Path) -> None:
    """Run driver-style commands the way the git-build driver will: {python} filled in."""
    for command in commands:
        argv = shlex.split(command.format(python=sys.executable))
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{command!r} failed: {done.stderr}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_answering(app: RunningApp) -> None:
    """Poll until the app answers HTTP at all (a 503 counts), or fail with its log."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    with httpx.Client(base_url=app.url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if app.process.poll() is not None:
                pytest.fail(f"the app exited with {app.process.returncode}:\n{app.log.read_text()}")
            try:
                client.get(HEALTH_PATH)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            return
    pytest.fail(f"the app did not answer in {STARTUP_DEADLINE_S} s:\n{app.log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def launch(cwd: Path, folder: Path, env: dict[str, str]) -> RunningApp:
    """Start the app with the driver's start command, its database in `folder`."""
    port = free_port()
    argv = shlex.split(START_COMMAND.format(python=sys.executable, port=port))
    child_env = {k: v for k, v in os.environ.items() if k not in DEMO_ENV}
    child_env |= {"BADMINTON_DB": str(folder / "badminton.db")} | env
    log = folder / "app.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=child_env, stdout=out, stderr=subprocess.STDOUT
        )
    return RunningApp(url=f"http://127.0.0.1:{port}", process=process, log=log)
