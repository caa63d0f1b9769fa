"""Database operations a person asks for directly: setup, backups, integrity, migration status.

Restores and schema reverts change data, so they run as plans through the executor
(`operations/database_runs.py`); what is here only reads, or only adds a backup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql
from sqlalchemy import select

from backout.audit import audit
from backout.db.backup import (
    BackupInfo,
    backup_engine_for,
)
from backout.db.connection import Connection
from backout.db.migrations import MigrationStatus, migration_adapter_for
from backout.db.settings_units import in_unit
from backout.errors import RefusedError
from backout.runs import locks
from backout.runs.records import StepState
from backout.runtime import Runtime
from backout.store import BackupRecord, Run, Step
from backout.subjects import Subject


@dataclass(frozen=True)
class Setting:
    """One server setting the engine needs, compared in the setting's own unit."""

    name: str
    wanted: str
    current: str | None  # the value in effect, with its unit (`60s`); None: no such setting
    ok: bool  # the wanted value is in effect
    needs_restart: bool  # not in effect, and only a server restart puts it in effect
    pending_restart: bool  # set (ALTER SYSTEM) and reloaded, waiting for that restart


def setup(runtime: Runtime, name: str, *, apply: bool, actor: str) -> list[Setting]:
    """The server settings the backup engine needs, as they are and, with `apply`, as set."""
    engine = backup_engine_for(runtime.config, name)
    wanted = engine.required_settings()
    db = runtime.database(name)
    with db.connect(autocommit=True) as connection:
        if apply and wanted:
            _refuse_unless_allowed(connection, name, wanted)
            for statement in _alter_system(wanted):
                connection.execute(statement)
            _reload(connection, runtime)
            with runtime.store.session() as session:
                audit(session, actor, "db.setup.applied", name, settings=wanted)
        rows = connection.execute(
            "SELECT name, setting, coalesce(unit, ''), context, pending_restart FROM pg_settings"
            " WHERE name = ANY(%s)",
            (list(wanted),),
        ).fetchall()
    seen = {str(row[0]): row[1:] for row in rows}
    return [_compare(setting, value, seen.get(setting)) for setting, value in wanted.items()]


def _alter_system(wanted: dict[str, str]) -> list[sql.Composed]:
    # A utility statement takes no bound parameters: composed, safely quoted.
    return [
        sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(setting), sql.Literal(value))
        for setting, value in wanted.items()
    ]


def _refuse_unless_allowed(connection: Connection, name: str, wanted: dict[str, str]) -> None:
    """RefusedError, before any setting is changed, unless the role may set every one and
    reload the configuration: ALTER SYSTEM cannot run in a transaction, so a refusal half-way
    would leave the server half set."""
    denied = _denied(connection, list(wanted))
    if not denied:
        return
    statements = "; ".join(s.as_string(connection) for s in _alter_system(wanted))
    raise RefusedError(
        f"cannot apply the settings of {name!r}: its role may not {' or '.join(denied)}; "
        "nothing was changed",
        hint=f"run --apply as a superuser, or have one run: {statements}; SELECT pg_reload_conf();",
    )


def _denied(connection: Connection, settings: list[str]) -> list[str]:
    """What the session's role may not do of setting `settings` and reloading."""
    row = connection.execute(
        "SELECT rolsuper, current_setting('server_version_num')::int FROM pg_roles"
        " WHERE rolname = current_user"
    ).fetchone()
    if row is None or row[0]:
        return []
    if int(str(row[1])) < 150000:  # before 15, ALTER SYSTEM is for superusers only
        return [f"set {', '.join(settings)}"]
    refused = connection.execute(
        "SELECT s FROM unnest(%s::text[]) AS s"
        " WHERE NOT has_parameter_privilege(s, 'ALTER SYSTEM')",
        (settings,),
    ).fetchall()
    denied = [f"set {', '.join(str(r[0]) for r in refused)}"] if refused else []
    reload = connection.execute(
        "SELECT has_function_privilege('pg_reload_conf()', 'EXECUTE')"
    ).fetchone()
    return denied if reload and reload[0] else [*denied, "reload the configuration"]


def _reload(connection: Connection, runtime: Runtime, timeout_s: float = 10.0) -> None:
    """Reload the configuration and wait until this session has read it (pg_reload_conf() only
    signals): the settings read next are those in effect."""
    loaded = connection.execute("SELECT pg_conf_load_time()").fetchone()
    connection.execute("SELECT pg_reload_conf()")
    deadline = runtime.clock.monotonic() + timeout_s
    while runtime.clock.monotonic() < deadline:
        # Each statement lets the backend handle the SIGHUP before it runs.
        again = connection.execute("SELECT pg_conf_load_time()").fetchone()
        if again != loaded:
            return
        runtime.clock.sleep(0.02)


def _compare(name: str, wanted: str, row: tuple[Any, ...] | None) -> Setting:
    if row is None:
        return Setting(name, wanted, None, ok=False, needs_restart=False, pending_restart=False)
    current, unit, context, pending = str(row[0]), str(row[1]), str(row[2]), bool(row[3])
    ok = current == in_unit(wanted, unit)
    return Setting(
        name,
        wanted,
        current + unit if unit and current.lstrip("-").isdigit() else current,
        ok=ok,
        needs_restart=not ok and context == "postmaster",
        pending_restart=pending,
    )


def expire_backups(runtime: Runtime, name: str, *, dry_run: bool, actor: str) -> list[str]:
    """Delete the backups retention no longer keeps (`backout db expire`), or list them.

    A separate act, never part of a backup or a run: it keeps at least the configured number
    of full backups and everything a restore to a moment inside the recovery window needs.
    """
    engine = backup_engine_for(runtime.config, name)
    if not dry_run:
        _refuse_while_a_run_is_going(runtime, name)
    expired = engine.expire(now=runtime.clock.now(), dry_run=dry_run)
    if expired and not dry_run:
        with runtime.store.session() as session:
            audit(session, actor, "db.backup.expired", name, backup_ids=expired)
    return expired


def _refuse_while_a_run_is_going(runtime: Runtime, name: str) -> None:
    """A restore or revert of the database may be reading any of its backups right now."""
    with runtime.store.session() as session:
        going = locks.holder(session, runtime.environment, Subject.database(name))
    if going is not None:
        raise RefusedError(
            f"run {going} of {name!r} has not ended: it may be reading the backups retention "
            "would delete",
            hint=f"expire once it has ended (backout run show {going}), or abort it",
        )


def list_backups(runtime: Runtime, name: str) -> list[dict[str, Any]]:
    """The repository's backups, oldest first, with what backout recorded of each."""
    engine = backup_engine_for(runtime.config, name)
    with runtime.store.session() as session:
        records = {
            r.backup_id: r
            for r in session.scalars(
                select(BackupRecord).where(
                    BackupRecord.environment == runtime.environment, BackupRecord.database == name
                )
            )
        }
        return [_backup_view(info, records.get(info.id)) for info in engine.backups()]


def restore_points(runtime: Runtime, name: str) -> list[dict[str, Any]]:
    """The named restore points backout's runs set on database `name`, oldest first: what
    `backout db restore NAME --restore-point POINT` returns to."""
    runtime.config.database(name)
    query = (
        select(Step, Run.id)
        .join(Run, Step.run_id == Run.id)
        .where(
            Run.environment == runtime.environment,
            Step.kind == "db_restore_point",
            Step.state == StepState.SUCCEEDED,
        )
        .order_by(Step.finished_at)
    )
    with runtime.store.session() as session:
        return [
            {
                "name": step.output["restore_point"],
                "lsn": step.output.get("lsn"),
                "set_at": step.finished_at.isoformat() if step.finished_at else None,
                "run_id": run_id,
            }
            for step, run_id in session.execute(query)
            if step.params.get("database") == name and step.output
        ]


def _backup_view(info: BackupInfo, record: BackupRecord | None) -> dict[str, Any]:
    return {
        "id": info.id,
        "kind": info.kind,
        "started_at": info.started_at.isoformat(),
        "finished_at": info.finished_at.isoformat(),
        "size_bytes": info.size_bytes,
        "wal_start": info.wal_start,
        "wal_stop": info.wal_stop,
        "location": info.location,
        "verified": info.verified,
        "taken_by": record.created_by if record else None,
        "reason": record.reason if record else None,
        "row_counts": record.row_counts if record else None,
    }


def migration_status(runtime: Runtime, name: str) -> MigrationStatus:
    return migration_adapter_for(runtime.config, name).status()
