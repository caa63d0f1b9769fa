"""The quickstart story: deploy a good release, let it bake, ship a bad one, watch backout act."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backout import releases
from backout.atomic import write_text_atomic
from backout.controller.watch import Watcher
from backout.errors import BackoutError
from backout.operations import service_facts, views
from backout.operations.deploy import deploy
from backout.operations.report import ReportFormat, render_report
from backout.quickstart.notifying import Delivered, delivering, read_people_sections
from backout.quickstart.workspace import ACTOR, SERVICE, Workspace, create_workspace
from backout.releases import ReleaseStatus
from backout.runs.records import RunResult, RunState, StepListener
from backout.runtime import Runtime

BAKE_DEADLINE_S = 60.0
ROLLBACK_DEADLINE_S = 120.0

Narrate = Callable[[str], None]


@dataclass
class QuickstartResult:
    rolled_back: bool
    from_version: str
    to_version: str | None
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    rto_s: float
    incident_id: int | None
    run_id: int | None
    workspace: str
    config: str
    state_database: str
    logs: str
    incident_status: str | None = None
    decisions: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    objectives: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    notifications: dict[str, int] = field(default_factory=dict)  # sent, unsent
    reports: dict[str, str] = field(default_factory=dict)  # format → the file written

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_quickstart(
    workspace_dir: Path | None = None,
    *,
    narrate: Narrate = lambda _: None,
    on_step: StepListener | None = None,
    keep_running: bool = False,
    notify_config: Path | None = None,
) -> QuickstartResult:
    """Tell the whole story; the workspace stays, so every command works on it afterwards.
    `notify_config` (a YAML file of notifications, contacts, approvals) says who is told."""
    sections = read_people_sections(notify_config) if notify_config is not None else None
    workspace = create_workspace(workspace_dir, sections)
    narrate(f"workspace {workspace.path}: demo app repository with tags v1.0.0 and v1.1.0")
    runtime = Runtime.open(workspace.config_file)
    try:
        with workspace_log(runtime) as log_file:
            with delivering(runtime, narrate) as delivered:
                result = _tell(runtime, workspace, narrate, on_step)
            return _summarise(runtime, workspace, log_file, result, delivered)
    finally:
        if not keep_running:
            runtime.driver(SERVICE).stop()
        runtime.close()


@contextmanager
def workspace_log(runtime: Runtime) -> Iterator[Path]:
    """backout's own log of the story, beside its state, at INFO, while the story lasts."""
    log_file = runtime.config.state_dir / "logs" / "backout.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        yield log_file
    finally:
        root.removeHandler(handler)
        handler.close()


@dataclass(frozen=True)
class _Told:
    """What the story did: the rollback's result and the watch loop's decisions."""

    result: RunResult
    decisions: list[str]


def _tell(
    runtime: Runtime, workspace: Workspace, narrate: Narrate, on_step: StepListener | None
) -> _Told:
    watcher, decisions = ship_good_then_bad(
        runtime, workspace, narrate, on_step, bad_is=", the bad release, under steady traffic"
    )
    watch_until(watcher, lambda: bool(watcher.results), ROLLBACK_DEADLINE_S)
    return _Told(watcher.wait_for_runs()[0], decisions)


def ship_good_then_bad(
    runtime: Runtime,
    workspace: Workspace,
    narrate: Narrate,
    on_step: StepListener | None,
    *,
    bad_is: str,
) -> tuple[Watcher, list[str]]:
    """Deploy the good release, watch it bake to good, deploy the bad one: the watcher (its
    decisions narrated and kept, in the returned list) is left to tell what follows."""
    good, bad = workspace.repo.good_version, workspace.repo.bad_version
    narrate(f"deploying {good} with git-build (checkout, install, build, start)")
    require_success(_deploy(runtime, good, workspace, on_step))
    decisions: list[str] = []

    def remember(decision: str) -> None:
        decisions.append(decision)
        narrate(decision)

    watcher = Watcher(runtime, on_change=remember)
    watch_until(watcher, lambda: status_of(runtime, good) == ReleaseStatus.GOOD, BAKE_DEADLINE_S)
    narrate(f"deploying {bad}{bad_is}")
    require_success(_deploy(runtime, bad, workspace, on_step))
    return watcher, decisions


def _deploy(
    runtime: Runtime, version: str, workspace: Workspace, on_step: StepListener | None
) -> RunResult:
    ref = workspace.repo.tags[version]
    return deploy(runtime, SERVICE, version, ref=ref, actor=ACTOR, on_step=on_step)


def require_success(result: RunResult) -> None:
    if result.state is not RunState.SUCCEEDED:
        raise BackoutError(f"quickstart stopped: {result.message}")


def status_of(runtime: Runtime, version: str) -> str:
    with runtime.store.session() as session:
        return releases.find(session, runtime.environment, SERVICE, version).status


def watch_until(watcher: Watcher, done: Callable[[], bool], deadline_s: float) -> None:
    clock = watcher.runtime.clock
    interval = watcher.runtime.config.watch.interval.total_seconds()
    end = clock.monotonic() + deadline_s
    while not done():
        if clock.monotonic() > end:
            raise BackoutError(
                f"quickstart stopped: nothing happened in {deadline_s:.0f}s",
                hint=f"last decisions: {'; '.join(watcher.last_decisions.values())}",
            )
        watcher.run_cycle()
        clock.sleep(interval)


def _summarise(
    runtime: Runtime, workspace: Workspace, log_file: Path, told: _Told, delivered: Delivered
) -> QuickstartResult:
    result, bad = told.result, workspace.repo.bad_version
    run = views.run_detail(runtime, result.run_id)
    incident = views.incident_detail(runtime, run["incident_id"]) if run["incident_id"] else None
    status = service_facts.service_statuses(runtime)[0]
    rolled_back = (
        result.state is RunState.SUCCEEDED
        and status["live_version"] == run["to_version"]
        and status_of(runtime, bad) == ReleaseStatus.ROLLED_BACK
    )
    return QuickstartResult(
        rolled_back=rolled_back,
        from_version=bad,
        to_version=run["to_version"],
        time_to_detect_s=incident["time_to_detect_s"] if incident else None,
        time_to_recover_s=incident["time_to_recover_s"] if incident else None,
        rto_s=runtime.config.rto_for(SERVICE).total_seconds(),
        incident_id=run["incident_id"],
        run_id=result.run_id,
        workspace=str(workspace.path),
        config=str(workspace.config_file),
        state_database=runtime.config.database_url(),
        logs=str(log_file),
        incident_status=incident["status"] if incident else None,
        decisions=told.decisions,
        timeline=incident["timeline"] if incident else [],
        objectives=incident["objectives"] if incident else [],
        steps=run["steps"],
        notifications=delivered.as_dict(),
        reports=write_reports(runtime, workspace.path, incident["id"]) if incident else {},
    )


def write_reports(runtime: Runtime, folder: Path, incident_id: int) -> dict[str, str]:
    """The incident's post-incident report in each format, under `folder`/reports (what
    `backout incident report ID --format F -o FILE` writes); format → path."""
    written = {}
    for fmt in ReportFormat:
        path = folder / "reports" / f"incident-{incident_id}.{fmt.value}"
        path.parent.mkdir(exist_ok=True)
        write_text_atomic(path, render_report(runtime, incident_id, fmt))
        written[fmt.value] = str(path)
    return written
