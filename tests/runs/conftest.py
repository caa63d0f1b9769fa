"""A site for the executor tests: a backout.yaml in tmp_path with two services on the fake driver
and the fake router, releases 1.0.0 (good) then 1.1.0 (live) of each, 1.1.0 running, and the
`backout` command run as a real process (crashes are real SIGKILLs).

The state is read straight from the SQLite store, polled with deadlines while a process runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from backout import releases
from backout.drivers import ReleaseRef
from backout.operations.deploy import record_release
from backout.releases import ReleaseStatus
from backout.runtime import Runtime
from backout.store import Deployment, Incident, Run, Step, Store, SubjectLock
from backout.subjects import Subject

BACKOUT = str(Path(sys.executable).with_name("backout"))
SERVICES = ("api", "web")
CLI_TIMEOUT_S = 60.0


class FakeClock:
    """Wall time as it is, but sleeping only moves the monotonic clock: retries do not wait.

    `slept` lists every sleep asked for; `on_sleep` (if set) runs at each, as another actor
    acting while the executor waits would.
    """

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] | None = None
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._monotonic += max(seconds, 0.0)
        if self.on_sleep is not None:
            self.on_sleep()


@dataclass(frozen=True)
class StepRow:
    position: int
    kind: str
    state: str
    attempts: int
    message: str | None
    params: dict[str, Any]


@dataclass(frozen=True)
class RunRow:
    id: int
    service: str
    state: str
    error: str | None
    owner: str | None
    incident_id: int | None


class Site:
    """One backout installation in a folder: its config, its store, its fake platform."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_path = root / "backout.yaml"
        self._runtimes: list[Runtime] = []
        self._processes: list[subprocess.Popen[str]] = []
        self.configure()
        self._store = Store.open(f"sqlite:///{root / 'state.db'}")

    # --- configuration ---------------------------------------------------------------------

    def configure(
        self,
        *,
        retries: int = 2,
        depends_on: dict[str, list[str]] | None = None,
        health_command: str | None = None,
        **api_driver: Any,
    ) -> None:
        """(Re)write backout.yaml; `api_driver` are the fake driver's settings of service api."""
        services = {
            name: {
                "tier": "core",
                "driver": {"type": "fake", **(api_driver if name == "api" else {})},
                "router": {"type": "fake"},
                "monitor": "0s",
                "traffic_hold": "0s",
                "steps": {"retries": retries},
                "depends_on": (depends_on or {}).get(name, []),
                "health": [{"type": "command", "command": health_command}]
                if health_command
                else [],
            }
            for name in SERVICES
        }
        config = {
            "project": "executor-tests",
            "state": {"database": "sqlite:///state.db", "directory": ".backout"},
            "services": services,
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def runtime(self, clock: FakeClock | None = None) -> Runtime:
        """A fresh runtime on the current config (closed at teardown)."""
        runtime = Runtime.open(self.config_path, clock=clock)
        self._runtimes.append(runtime)
        return runtime

    def seed(self) -> None:
        """Releases 1.0.0 good then 1.1.0 live of every service; the fake driver runs 1.1.0."""
        runtime = self.runtime()
        for service in SERVICES:
            for version, status in (("1.0.0", ReleaseStatus.GOOD), ("1.1.0", ReleaseStatus.LIVE)):
                record_release(
                    runtime, service, version, ref=f"v{version}", actor="pipeline", status=status
                )
            runtime.driver(service).deploy(ReleaseRef(service, "1.1.0", "v1.1.0"))
            runtime.router(service).set_share("1.1.0", 100)

    # --- the command -----------------------------------------------------------------------

    def env(self, failpoints: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOUT_")}
        env |= {
            "BACKOUT_CONFIG": str(self.config_path),
            "BACKOUT_ACTOR": "tester@cli",
            "COLUMNS": "200",  # one plan step per line, however long its title
        }
        if failpoints:
            env["BACKOUT_FAILPOINTS"] = failpoints
        return env

    def backout(
        self, *args: str, failpoints: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `backout ARGS` to its end."""
        return subprocess.run(
            [BACKOUT, *args],
            env=self.env(failpoints),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def start(self, *args: str, failpoints: str | None = None) -> subprocess.Popen[str]:
        """Start `backout ARGS` in the background (killed at teardown if still running)."""
        process = subprocess.Popen(
            [BACKOUT, *args],
            env=self.env(failpoints),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._processes.append(process)
        return process

    # --- what the store says ---------------------------------------------------------------

    def runs(self) -> list[RunRow]:
        with self._store.session() as session:
            return [
                RunRow(r.id, r.service, r.state, r.error, r.owner, r.incident_id)
                for r in session.scalars(select(Run).order_by(Run.id))
            ]

    def run(self, run_id: int) -> RunRow:
        return next(r for r in self.runs() if r.id == run_id)

    def only_run(self) -> RunRow:
        runs = self.runs()
        assert len(runs) == 1, runs
        return runs[0]

    def steps(self, run_id: int) -> list[StepRow]:
        with self._store.session() as session:
            query = select(Step).where(Step.run_id == run_id).order_by(Step.position)
            return [
                StepRow(s.position, s.kind, s.state, s.attempts, s.message, s.params)
                for s in session.scalars(query)
            ]

    def step(self, run_id: int, position: int) -> StepRow:
        return self.steps(run_id)[position - 1]

    def lock_holder(self, subject: str = "api") -> int | None:
        """The run holding the lock of `subject` (a service, or `flag:KEY` ...)."""
        held = Subject.from_key(subject)
        with self._store.session() as session:
            lock = session.get(SubjectLock, ("production", held.kind.value, held.name))
            return lock.run_id if lock is not None else None

    def live_version(self, service: str = "api") -> str | None:
        with self._store.session() as session:
            release = releases.live(session, "production", service)
            return release.version if release is not None else None

    def release_status(self, version: str, service: str = "api") -> str:
        with self._store.session() as session:
            return releases.find(session, "production", service, version).status

    def deployments_by(self, run_id: int) -> int:
        """How many times run `run_id` recorded a release as put live."""
        with self._store.session() as session:
            return len(list(session.scalars(select(Deployment).where(Deployment.run_id == run_id))))

    def incident(self, incident_id: int) -> tuple[str, list[str]]:
        """An incident's status and the kinds of its timeline events, in order."""
        with self._store.session() as session:
            incident = session.get(Incident, incident_id)
            assert incident is not None
            return incident.status, [e.kind for e in incident.events]

    def incident_count(self) -> int:
        with self._store.session() as session:
            return len(list(session.scalars(select(Incident))))

    def wait_for_step(self, position: int, state: str) -> int:
        """Poll until step `position` of the newest run is in `state`; return the run's id."""
        found: list[int] = []

        def reached() -> bool:
            runs = self.runs()
            if runs and self.step(runs[-1].id, position).state == state:
                found.append(runs[-1].id)
            return bool(found)

        self.wait_until(reached, f"step {position} of a run to be {state}")
        return found[0]

    def assert_rolled_back_once(self, run_id: int) -> None:
        """Run `run_id` put 1.0.0 back exactly once, moved the traffic, and gave 1.1.0 its verdict."""
        assert self.run(run_id).state == "succeeded"
        assert self.runtime().driver("api").current() == "1.0.0"
        assert self.deploys() == 2, "the seed's deploy of 1.1.0, then one deploy of 1.0.0"
        assert self.deployments_by(run_id) == 1
        assert self.live_version() == "1.0.0"
        assert self.release_status("1.1.0") == "rolled_back"
        assert self.traffic() == {"1.0.0": 100.0, "1.1.0": 0.0}
        assert self.lock_holder() is None

    # --- the fake platform -----------------------------------------------------------------

    def driver_state(self, service: str = "api") -> dict[str, Any]:
        path = self.root / ".backout" / "drivers" / service / "fake.json"
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return state

    def deploys(self, service: str = "api") -> int:
        count: int = self.driver_state(service).get("deploys", 0)
        return count

    def traffic(self, service: str = "api") -> dict[str, float]:
        path = self.root / ".backout" / f"fake-router-{service}.json"
        shares: dict[str, float] = json.loads(path.read_text(encoding="utf-8"))
        return shares

    def wait_until(self, condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
        """Poll `condition` until it holds; fail the test naming `what` at the deadline."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_s:g}s waiting for: {what}")
            time.sleep(0.02)

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.kill()
            process.communicate()
        for runtime in self._runtimes:
            runtime.close()
        self._store.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A seeded site: api and web each have 1.0.0 good and 1.1.0 live, and 1.1.0 runs."""
    site = Site(tmp_path)
    site.seed()
    yield site
    site.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
