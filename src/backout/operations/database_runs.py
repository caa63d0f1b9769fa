"""Database changes that run as plans through the executor: schema reverts, restores, resets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backout.db.backup import UnknownBackupError, backup_engine_for
from backout.db.migrations import MigrationStatus, RevertPlan, migration_adapter_for
from backout.db.reset import ResetScope, reset_scope
from backout.errors import RefusedError
from backout.operations.restore_preview import reaches_any_moment
from backout.operations.subject_incidents import start_subject_run
from backout.plans import Plan
from backout.plans.database import (
    RestorePlacement,
    reset_plan,
    restore_plan,
    revert_plan,
)
from backout.runs.records import StepState, get_run, subjects_of
from backout.runs.start import RunHandle
from backout.runtime import Runtime


def plan_revert(runtime: Runtime, name: str, to: str, *, reason: str) -> tuple[Plan, RevertPlan]:
    """The revert plan and what it would drop; read-only. Refuses a revert with nothing to do."""
    revert = migration_adapter_for(runtime.config, name).revert_plan(to)
    if not revert.steps:
        raise RefusedError(f"database {name!r} is already at revision {to!r}: nothing to revert")
    return revert_plan(name, revert, reason=reason), revert


def start_revert(runtime: Runtime, name: str, plan: Plan, *, actor: str, reason: str) -> RunHandle:
    """Store the previewed revert (`plan_revert`) as a run holding the database's lock, inside
    an incident."""
    return _start(runtime, plan, actor, reason)


def start_restore(
    runtime: Runtime,
    name: str,
    *,
    backup_id: str | None,
    to_time: datetime | None,
    restore_point: str | None,
    reason: str,
    into: str | None = None,
    in_place: bool = False,
    actor: str,
) -> RunHandle:
    """Store a restore as a run holding the database's lock: beside the live data, or `into` a
    new database on the live server, or `in_place` (behind a fresh, checked backup).
    UnknownBackupError, before any run exists, for a backup id the repository does not hold."""
    runtime.config.database(name)
    if backup_id is not None:
        _require_backup(runtime, name, backup_id)
    target = {
        "backup_id": backup_id,
        "time": to_time.isoformat() if to_time else None,
        "restore_point": restore_point,
    }
    side_cluster = reaches_any_moment(runtime, name)
    plan = restore_plan(
        name,
        target,
        reason=reason,
        placement=RestorePlacement(into=into, in_place=in_place),
        side_cluster=side_cluster,
    )
    return _start(runtime, plan, actor, reason)


def _require_backup(runtime: Runtime, name: str, backup_id: str) -> None:
    held = [backup.id for backup in backup_engine_for(runtime.config, name).backups()]
    if backup_id not in held:
        raise UnknownBackupError(backup_id, held)


@dataclass(frozen=True)
class ResetPreview:
    """A reset's plan, what it drops, and the migrations it applies again."""

    database: str  # as named under databases: in backout.yaml
    plan: Plan
    scope: ResetScope
    status: MigrationStatus

    @property
    def revisions(self) -> list[str]:
        """Every migration, oldest first: what the reset applies again."""
        return [m.revision for m in (*self.status.applied, *self.status.pending)]


def plan_reset(runtime: Runtime, name: str, *, reason: str) -> ResetPreview:
    """The reset plan and what it would drop; read-only. Refuses a reset that could not end
    with the schema rebuilt: no migrations to apply, or a schema the role may not drop."""
    status = migration_adapter_for(runtime.config, name).status()
    if not status.applied and not status.pending:
        raise RefusedError(
            f"database {name!r} has no migrations: a reset would leave it empty",
            hint=f"check databases.{name}.migrations in backout.yaml",
        )
    scope = reset_scope(runtime.database(name))
    return ResetPreview(name, reset_plan(name, scope, status, reason=reason), scope, status)


def start_reset(
    runtime: Runtime, preview: ResetPreview, *, typed_dbname: str, actor: str, reason: str
) -> RunHandle:
    """Store the previewed reset as a run holding the database's lock, inside an incident; only
    when `typed_dbname` is the database's name as the server knows it (current_database()).
    The drop checks that name again on the server, so a stale preview cannot reset another."""
    name = preview.database
    if typed_dbname != preview.scope.dbname:
        raise RefusedError(
            f"{typed_dbname!r} is not the name of database {name!r} "
            f"({preview.scope.dbname!r} on its server): nothing was changed"
        )
    return _start(runtime, preview.plan, actor, reason)


def _start(runtime: Runtime, plan: Plan, actor: str, reason: str) -> RunHandle:
    rto = runtime.config.objectives.rto.database
    return start_subject_run(runtime, plan, actor=actor, reason=reason, rto=rto)


def live_data_after(runtime: Runtime, run_id: int) -> str:
    """What a database run did to the live data, in one sentence (said when it did not succeed).

    Only three steps write to it: the switch of an in-place restore, the schema revert (each
    migration of which runs in its own transaction, so a failed one leaves the one before),
    and a reset's drop (one transaction: all or nothing).
    """
    with runtime.store.session() as session:
        run = get_run(session, run_id)
        steps = {step.kind: step for step in run.steps}
        name = subjects_of(run)[0].name
    switch, revert, reset = steps.get("db_switch"), steps.get("db_revert"), steps.get("db_reset")
    if switch is not None and switch.state == StepState.SUCCEEDED:
        kept = (switch.output or {}).get("kept_as", "another name")
        return f"the live database holds the restored data; the data as it was is kept as {kept!r}"
    if reset is not None and reset.state == StepState.SUCCEEDED:
        backup = steps["db_backup"].output or {}
        head = migration_adapter_for(runtime.config, name).status().head
        schema = f"its schema is at revision {head}" if head else "its schema is empty"
        return (
            f"the live data was dropped and {schema}; the data as it was is in backup "
            f"{backup.get('backup_id')} at {backup.get('location')}"
        )
    if reset is not None and reset.attempts > 0:
        return "the live data is as it was: the reset's drop was rolled back whole"
    if revert is not None and revert.attempts > 0:
        head = migration_adapter_for(runtime.config, name).status().head
        return f"the live data is unchanged; its schema is at revision {head}"
    return "the live data is as it was: nothing was written to it"
