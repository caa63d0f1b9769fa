"""Real monitoring servers for the tests: Prometheus (and, later, Alertmanager) started as plain
processes on free loopback ports, with their data in a temporary folder; the demo app running
as a process for them to scrape; steady traffic to it.

`ServerProcess` is the reusable part: any server binary, its arguments, a URL that answers 200
once it is ready. `start_prometheus` builds one for Prometheus (scrape interval 1 s).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backout.demo import (
    CONDITION_ENVS,
    HEALTH_PATH,
    PROBE_PATH,
    START_COMMAND,
    create_demo_repo,
)
from tests.pg_fixtures import running_in_ci

READY_DEADLINE_S = 30.0
SCRAPE_INTERVAL = "1s"
DEMO_ENV = ("BADMINTON_DB", "BADMINTON_DATABASE_URL", "BADMINTON_FAULT_RATE", *CONDITION_ENVS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    """Poll `condition` until it holds; fail saying `what` did not happen in time."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {deadline_s:g}s")
        time.sleep(0.05)


def find_binary(*names: str) -> str:
    """The first of `names` on PATH; the test is skipped without it (failed in CI)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    missing = f"none of {', '.join(names)} is installed: run scripts/ensure-system-deps.sh"
    if running_in_ci():
        pytest.fail(f"CI is set and {missing}", pytrace=False)
    pytest.skip(missing)


@dataclass
class ServerProcess:
    """A server binary run as a plain child process (no systemd here), its output in `log`."""

    name: str
    argv: list[str]
    ready_url: str
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ServerProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        self.wait_until_ready()
        return self

    def wait_until_ready(self) -> None:
        end = time.monotonic() + READY_DEADLINE_S
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < end:
                if not self.running:
                    pytest.fail(f"{self.name} exited:\n{self.log.read_text(errors='replace')}")
                try:
                    if client.get(self.ready_url).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"{self.name} was not ready in {READY_DEADLINE_S:g}s:\n{self.log.read_text()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Terminate the server (killed if it lingers); idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Prometheus:
    server: ServerProcess
    url: str

    def stop(self) -> None:
        self.server.stop()


def prometheus_config(targets: dict[str, list[str]]) -> dict[str, Any]:
    """Scrape each job's `host:port` targets every second."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": "900ms"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": hosts}]}
            for job, hosts in targets.items()
        ],
    }


def start_prometheus(folder: Path, targets: dict[str, list[str]]) -> Prometheus:
    """A Prometheus scraping `targets` (job -> host:port list), ready to answer queries."""
    binary = find_binary("prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(targets)), encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    server = ServerProcess("prometheus", argv, f"{url}/-/ready", folder / "prometheus.log")
    return Prometheus(server.start(), url)


@contextmanager
def running_prometheus(folder: Path, targets: dict[str, list[str]]) -> Iterator[Prometheus]:
    prometheus = start_prometheus(folder, targets)
    try:
        yield prometheus
    finally:
        prometheus.stop()


def scraped(prometheus: Prometheus, promql: str) -> bool:
    """Whether `promql` has a result yet (the target was scraped often enough)."""
    answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": promql}, timeout=2.0)
    return bool(answer.json()["data"]["result"])


# --- the demo app, for Prometheus to scrape ----------------------------------------------------


@contextmanager
def demo_app(folder: Path, version: str, **env: str) -> Iterator[str]:
    """A release of the demo app answering on loopback, its base URL; stopped afterwards."""
    repo = create_demo_repo(folder / "repo")
    subprocess.run(
        ["git", "checkout", "--quiet", repo.tags[version]], cwd=repo.path, check=True, timeout=60
    )
    port = free_port()
    argv = shlex.split(START_COMMAND.format(python=sys.executable, port=port))
    child_env = {k: v for k, v in os.environ.items() if k not in DEMO_ENV}
    child_env |= {"BADMINTON_DB": str(folder / "badminton.db")} | env
    url = f"http://127.0.0.1:{port}"
    app = ServerProcess("demo app", argv, url + HEALTH_PATH, folder / "app.log")
    with app.log.open("ab") as out:
        app.process = subprocess.Popen(
            argv, cwd=repo.path, env=child_env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        app.wait_until_ready()
        yield url
    finally:
        app.stop()


class Traffic:
    """Steady requests to the demo app's sessions list from a thread, as users would send;
    a refused connection (the app restarting) is only counted."""

    def __init__(self, base_url: str, interval_s: float = 0.02) -> None:
        self.url = base_url + PROBE_PATH
        self.interval_s = interval_s
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=2.0, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not self._stop.is_set():
                with suppress(httpx.TransportError):
                    client.get(self.url)
                self.sent += 1
                self._stop.wait(self.interval_s)
