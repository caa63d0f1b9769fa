"""What the detection benchmark runs on: built checkouts of the demo app, one app process at a
time on a fixed loopback port (so one Prometheus scrape target serves every case), the traffic
process, and the watch of one case through both views.
"""

from __future__ import annotations

import multiprocessing
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from _detection_cases import Case
from _detection_traffic import send_traffic
from _detection_views import VIEWS, WATCH_INTERVAL_S, backout_config

from backout import releases
from backout.controller.watch import Watcher
from backout.demo import (
    BUILD_COMMANDS,
    CONDITION_ENVS,
    HEALTH_PATH,
    INSTALL_COMMANDS,
    START_COMMAND,
    create_demo_repo,
)
from backout.operations import views
from backout.operations.deploy import deploy
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime
from tests.prometheus_support import ServerProcess

ACTOR = "detection-benchmark"
# Prometheus reads at least 4 scrapes (4 s) back: a new case's app starts only when the last
# one's series are out of that range, so no case is judged on its predecessor's requests.
QUIET_BETWEEN_CASES_S = 5.0
BAD_DEADLINE_S = 30.0  # a bad release still unseen by then counts as missed
HEALTHY_DEADLINE_S = 40.0  # a healthy one not baked by then is reported as not judged
_DEMO_VARIABLES = ("BADMINTON_DB", "BADMINTON_DATABASE_URL", *CONDITION_ENVS)


def build_checkouts(folder: Path, versions: tuple[str, ...]) -> dict[str, Path]:
    """A built worktree of each version's tag of a fresh demo repository."""
    repo = create_demo_repo(folder / "repo")
    built = {}
    for version in versions:
        target = folder / version
        subprocess.run(
            ["git", "worktree", "add", "--quiet", "--detach", str(target), repo.tags[version]],
            cwd=repo.path,
            check=True,
            capture_output=True,
        )
        for command in INSTALL_COMMANDS + BUILD_COMMANDS:
            argv = shlex.split(command.format(python=sys.executable))
            subprocess.run(argv, cwd=target, check=True, capture_output=True, timeout=120)
        built[version] = target
    return built


@dataclass
class App:
    """The demo app on `port`, one release at a time."""

    port: int
    folder: Path
    server: ServerProcess | None = None
    starts: int = 0
    stopped_at: float = field(default_factory=lambda: time.monotonic() - QUIET_BETWEEN_CASES_S)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, checkout: Path, env: dict[str, str]) -> None:
        """Start `checkout` with `env` once the previous release's series have aged out."""
        self.stop()
        time.sleep(max(0.0, self.stopped_at + QUIET_BETWEEN_CASES_S - time.monotonic()))
        argv = shlex.split(START_COMMAND.format(python=sys.executable, port=self.port))
        child_env = {k: v for k, v in os.environ.items() if k not in _DEMO_VARIABLES}
        # A fresh database each time: a booking left by a flow or a user cut off by the last
        # restart would make every later booking of that member a 409.
        self.starts += 1
        database = self.folder / f"badminton-{self.starts}.db"
        child_env |= {"BADMINTON_DB": str(database)} | env
        self.server = ServerProcess(
            "demo app", argv, self.url + HEALTH_PATH, self.folder / "app.log"
        )
        with self.server.log.open("ab") as log:
            self.server.process = subprocess.Popen(
                argv, cwd=checkout, env=child_env, stdout=log, stderr=subprocess.STDOUT
            )
        self.server.wait_until_ready()

    def stop(self) -> None:
        if self.server is not None and self.server.running:
            self.server.stop()
            self.stopped_at = time.monotonic()


class TrafficProcess:
    """Uneven user traffic to the app from a process of its own, for the whole benchmark."""

    def __init__(self, base_url: str) -> None:
        context = multiprocessing.get_context("spawn")  # no threads of ours forked along
        self._stop = context.Event()
        self._process = context.Process(
            target=send_traffic, args=(base_url, self._stop), daemon=True
        )

    def __enter__(self) -> TrafficProcess:
        self._process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


def write_workspace(folder: Path, app_url: str, prometheus_url: str) -> Path:
    folder.mkdir(parents=True)
    config = folder / "backout.yaml"
    data = backout_config(app_url, prometheus_url)
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def deploy_one(runtime: Runtime, view: str, version: str) -> None:
    result = deploy(runtime, view, version, ref=None, actor=ACTOR)
    if result.state is not RunState.SUCCEEDED:
        raise RuntimeError(f"deploying {version} to {view} failed: {result.message}")


def deploy_everywhere(runtime: Runtime, version: str) -> None:
    for view in VIEWS:
        deploy_one(runtime, view, version)


def release_status(runtime: Runtime, view: str, version: str) -> str:
    with runtime.store.session() as session:
        status: str = releases.find(session, runtime.environment, view, version).status
        return status


def calibrate(
    workspace: Path, app: App, checkout: Path, env: dict[str, str], version: str
) -> dict[str, dict[str, float]]:
    """The last known good: `version` deployed and baked good under the same noise, so that
    every case's "slower than the last known good" compares with a measured baseline; returns
    each view's baseline."""
    app.start(checkout, env)
    runtime = Runtime.open(workspace / "backout.yaml")
    try:
        deploy_everywhere(runtime, version)
        watcher = Watcher(runtime, actor=ACTOR)
        end = time.monotonic() + HEALTHY_DEADLINE_S * 2
        while not all(release_status(runtime, v, version) == ReleaseStatus.GOOD for v in VIEWS):
            if time.monotonic() > end:
                raise RuntimeError(f"{version} did not bake good: {watcher.last_decisions}")
            watcher.run_cycle()
            time.sleep(WATCH_INTERVAL_S)
        with runtime.store.session() as session:
            env_name = runtime.environment
            return {v: releases.find(session, env_name, v, version).baseline or {} for v in VIEWS}
    finally:
        runtime.close()


@dataclass
class ViewOutcome:
    fired: bool
    time_to_detect_s: float | None
    rollbacks: int
    baked_good: bool
    last_decision: str


def _outcome(runtime: Runtime, watcher: Watcher, view: str, version: str) -> ViewOutcome:
    incidents = [i for i in views.list_incidents(runtime) if i["service"] == view]  # newest first
    # A run started for an incident is a rollback, whatever it rolls back (application, flags).
    runs = [r for r in views.list_runs(runtime, service=view) if r["incident_id"] is not None]
    return ViewOutcome(
        fired=bool(incidents),
        time_to_detect_s=incidents[-1]["time_to_detect_s"] if incidents else None,
        rollbacks=len(runs),
        baked_good=release_status(runtime, view, version) == ReleaseStatus.GOOD,
        last_decision=watcher.last_decisions.get(view, ""),
    )


def watch_case(
    case: Case, workspace: Path, version: str, deadline_s: float | None = None
) -> dict[str, ViewOutcome]:
    """Deploy `version` on both views while the watch loop runs (as it would in production:
    its sources are already reading when a release goes live), and watch until each view has
    decided: fired, or (healthy) baked good; or until the deadline."""
    runtime = Runtime.open(workspace / "backout.yaml")
    watcher = Watcher(runtime, actor=ACTOR)
    try:
        watcher.run_cycle()  # the last known good is live: its sources start reading
        with ThreadPoolExecutor(len(VIEWS)) as pool:
            deploys = [pool.submit(deploy_one, runtime, view, version) for view in VIEWS]
            while not all(d.done() for d in deploys):
                watcher.run_cycle()
                time.sleep(WATCH_INTERVAL_S)
            for done in deploys:
                done.result()
        limit = deadline_s or (BAD_DEADLINE_S if case.bad else HEALTHY_DEADLINE_S)
        end = time.monotonic() + limit
        while time.monotonic() < end:
            watcher.run_cycle()
            outcomes = {v: _outcome(runtime, watcher, v, version) for v in VIEWS}
            if deadline_s is None and all(o.fired or o.baked_good for o in outcomes.values()):
                break
            time.sleep(WATCH_INTERVAL_S)
        watcher.wait_for_runs(timeout=30)
        return {v: _outcome(runtime, watcher, v, version) for v in VIEWS}
    finally:
        runtime.close()


def summary(outcome: ViewOutcome) -> dict[str, Any]:
    return {
        "fired": outcome.fired,
        "time_to_detect_s": outcome.time_to_detect_s,
        "rollbacks": outcome.rollbacks,
        "baked_good": outcome.baked_good,
        "last_decision": outcome.last_decision,
    }


def fresh_copy(calibrated: Path, into: Path) -> Path:
    """A case's own workspace: the calibrated one, its store holding the last known good."""
    shutil.copytree(calibrated, into)
    return into
