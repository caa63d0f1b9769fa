"""The database quickstart: the runbook's "Database Rollback Procedures", told on this machine.

The demo app runs on a throwaway PostgreSQL cluster, archiving through pgBackRest, with steady
sign-ins writing rows. Release 1.1.0 migrates the schema and, with it, overwrites the time of
every existing booking. An integrity assertion notices; backout rolls the app back to 1.0.0
(backup, restore point, schema revert — approved, since the revert drops a column holding
data), then restores the data in place to the moment before the release, keeps every write
made since in the lost-writes report, checks integrity, and measures the RPO achieved.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from backout.actions.backups import take_backup
from backout.actions.verifications import verify_database
from backout.db.migrations import migration_adapter_for
from backout.demo import SCHEMA_REVISIONS
from backout.errors import BackoutError
from backout.operations import views
from backout.operations.database import setup
from backout.operations.database_runs import start_restore
from backout.operations.deploy import deploy
from backout.operations.rollback import RollbackRequest, approve_run, start_rollback
from backout.quickstart.database_workspace import (
    DATABASE,
    DatabaseWorkspace,
    create_database_workspace,
)
from backout.quickstart.scenario import Narrate, workspace_log
from backout.quickstart.workspace import ACTOR, SERVICE
from backout.runs.records import RunResult, RunState, StepListener
from backout.runtime import Runtime

WRITE_INTERVAL_S = 0.05
WRITES_AFTER_RELEASE = 40  # sign-ins the bad release takes before anyone looks
WRITES_DEADLINE_S = 60.0
SIGNIN_EMAIL = "alice@example.com"


@dataclass
class DatabaseQuickstartResult:
    restored: bool
    schema_reverted: bool
    integrity_ok: bool
    rpo_s: float | None
    rpo_objective_s: float
    lost_writes_rows: int
    lost_writes_report: str | None
    restore_s: float | None
    restore_target: str
    run_id: int
    rollback_run_id: int
    incident_id: int | None
    workspace: str
    config: str
    logs: str
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SteadyWrites:
    """Sign-ins every few milliseconds through the app's API, each one a new `tokens` row.

    Remembers the hash of every token it got back (the app stores only hashes) with when.
    """

    def __init__(self, base_url: str) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=2.0)
        self._stop = threading.Event()
        self._paused = threading.Lock()
        self._lock = threading.Lock()
        self.written: list[tuple[datetime, str]] = []
        self._thread = threading.Thread(target=self._loop, name="steady-writes", daemon=True)

    def start(self) -> SteadyWrites:
        self._thread.start()
        return self

    def pause(self) -> threading.Lock:
        """Hold the returned lock (`with writes.pause():`) to have no write in flight."""
        return self._paused

    def count(self) -> int:
        with self._lock:
            return len(self.written)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.wait(WRITE_INTERVAL_S):
            with self._paused:
                self._write_one()

    def _write_one(self) -> None:
        try:
            response = self._client.post("/api/signin", json={"email": SIGNIN_EMAIL})
        except httpx.HTTPError:
            return  # the app is being redeployed or switched over; the next write will do
        if response.status_code == 200:
            token_hash = hashlib.sha256(response.json()["token"].encode()).hexdigest()
            with self._lock:
                self.written.append((datetime.now().astimezone(), token_hash))


def run_database_quickstart(
    workspace_dir: Path | None = None,
    *,
    narrate: Narrate = lambda _: None,
    on_step: StepListener | None = None,
    keep_running: bool = False,
) -> DatabaseQuickstartResult:
    """Tell the story; the workspace stays, with its cluster stopped unless `keep_running`."""
    workspace = create_database_workspace(workspace_dir)
    narrate(f"workspace {workspace.path}: PostgreSQL cluster on port {workspace.cluster.port}")
    runtime = Runtime.open(workspace.app.config_file)
    writes = SteadyWrites(f"http://127.0.0.1:{workspace.app.port}")
    try:
        with workspace_log(runtime) as log_file:
            return _tell(runtime, workspace, writes, narrate, on_step, log_file)
    finally:
        writes.stop()
        if not keep_running:
            runtime.driver(SERVICE).stop()
            workspace.cluster.stop()
        runtime.close()


def _tell(  # noqa: PLR0917 - private, called once
    runtime: Runtime,
    workspace: DatabaseWorkspace,
    writes: SteadyWrites,
    narrate: Narrate,
    on_step: StepListener | None,
    log_file: Path,
) -> DatabaseQuickstartResult:
    repo = workspace.app.repo
    good, bad = repo.good_version, repo.bad_version
    _archive_with_pgbackrest(runtime, workspace, narrate)
    narrate(f"deploying {good}: it migrates the database to {SCHEMA_REVISIONS[good]}")
    _require(_deploy(runtime, workspace, good, on_step))
    writes.start()
    _wait_for_writes(runtime, writes, 20)
    with writes.pause():
        target = _server_now(runtime)
    narrate(f"{writes.count()} sign-ins so far; the moment before the release: {target}")
    narrate(f"deploying {bad}: migration {SCHEMA_REVISIONS[bad]} and a faulty backfill")
    _require(_deploy(runtime, workspace, bad, on_step))
    _wait_for_writes(runtime, writes, writes.count() + WRITES_AFTER_RELEASE)
    report, _ = verify_database(runtime, DATABASE)
    if report.ok:
        raise BackoutError("quickstart stopped: the integrity check did not notice the bad data")
    narrate("integrity check: " + "; ".join(report.problems))
    rollback_id = _roll_back(runtime, narrate, good, "; ".join(report.problems), on_step)
    narrate(f"restoring {DATABASE} in place to {target.isoformat()}, the moment before {bad}")
    restore_run = start_restore(
        runtime,
        DATABASE,
        backup_id=None,
        to_time=target,
        restore_point=None,
        reason=f"data overwritten by {bad}",
        in_place=True,
        actor=ACTOR,
    )
    restore = restore_run.execute(on_step)
    _require(restore)
    return _summarise(runtime, workspace, restore, rollback_id, target, log_file)


def _archive_with_pgbackrest(
    runtime: Runtime, workspace: DatabaseWorkspace, narrate: Narrate
) -> None:
    """What `backout db setup main --apply` and `backout db backup main` do, then a restart."""
    settings = setup(runtime, DATABASE, apply=True, actor=ACTOR)
    if any(s.needs_restart and not s.ok for s in settings):
        workspace.cluster.restart()
    info, _ = take_backup(runtime, DATABASE, kind="full", actor=ACTOR, reason="quickstart")
    narrate(f"WAL archived by pgBackRest; full backup {info.id} at {info.location}")


def _deploy(
    runtime: Runtime, workspace: DatabaseWorkspace, version: str, on_step: StepListener | None
) -> RunResult:
    return deploy(
        runtime,
        SERVICE,
        version,
        ref=workspace.app.repo.tags[version],
        actor=ACTOR,
        schema_revision=SCHEMA_REVISIONS[version],
        on_step=on_step,
    )


def _roll_back(
    runtime: Runtime, narrate: Narrate, good: str, why: str, on_step: StepListener | None
) -> int:
    """The application rollback, whose plan reverts the schema; its data-loss gate approved."""
    request = RollbackRequest(SERVICE, to_version=good, reason=why, trigger="integrity")
    run = start_rollback(runtime, request, actor=ACTOR)
    result = run.execute(on_step)
    if result.state is RunState.AWAITING_APPROVAL:
        narrate(f"approval asked: {result.message}")
        approve_run(runtime, run.run_id, "quickstart (standing in for the on-call engineer)")
        result = run.execute(on_step)
    _require(result)
    narrate(f"{SERVICE} rolled back to {good}, schema reverted")
    return run.run_id


def _summarise(  # noqa: PLR0917 - private, called once
    runtime: Runtime,
    workspace: DatabaseWorkspace,
    restore: RunResult,
    rollback_id: int,
    target: datetime,
    log_file: Path,
) -> DatabaseQuickstartResult:
    run = views.run_detail(runtime, restore.run_id)
    outputs = {step["kind"]: step.get("output") or {} for step in run["steps"]}
    lost = outputs.get("db_lost_writes", {})
    head = migration_adapter_for(runtime.config, DATABASE).status().head
    report, _ = verify_database(runtime, DATABASE)
    objective = runtime.config.objectives.rpo[runtime.config.database(DATABASE).data_class]
    return DatabaseQuickstartResult(
        restored=restore.state is RunState.SUCCEEDED and report.ok,
        schema_reverted=head == SCHEMA_REVISIONS[workspace.app.repo.good_version],
        integrity_ok=report.ok,
        rpo_s=run["rpo_s"],
        rpo_objective_s=objective.total_seconds(),
        lost_writes_rows=int(lost.get("total_rows", 0)),
        lost_writes_report=lost.get("path"),
        restore_s=run["restore_s"],
        restore_target=target.isoformat(),
        run_id=restore.run_id,
        rollback_run_id=rollback_id,
        incident_id=run["incident_id"],
        workspace=str(workspace.path),
        config=str(workspace.app.config_file),
        logs=str(log_file),
        steps=run["steps"],
    )


def _server_now(runtime: Runtime) -> datetime:
    """The database server's clock: the restore target is a moment in its WAL."""
    with runtime.database(DATABASE).connect() as connection:
        row = connection.execute("SELECT clock_timestamp()").fetchone()
    if row is None or not isinstance(row[0], datetime):
        raise BackoutError("quickstart stopped: the database did not tell its time")
    return row[0]


def _wait_for_writes(runtime: Runtime, writes: SteadyWrites, at_least: int) -> None:
    end = runtime.clock.monotonic() + WRITES_DEADLINE_S
    while writes.count() < at_least:
        if runtime.clock.monotonic() > end:
            raise BackoutError(
                f"quickstart stopped: the app took {writes.count()} sign-ins, not {at_least}, "
                f"in {WRITES_DEADLINE_S:.0f} s",
                hint="see the app's log in the workspace's state folder",
            )
        runtime.clock.sleep(WRITE_INTERVAL_S)


def _require(result: RunResult) -> None:
    if result.state is not RunState.SUCCEEDED:
        raise BackoutError(f"quickstart stopped: run {result.run_id}: {result.message}")
