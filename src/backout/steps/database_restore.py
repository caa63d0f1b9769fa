"""Restore a database beside the live one, and keep what the restore would lose.

A physical engine (pgBackRest) restores into a new data directory under the state folder and
starts it as a side cluster on a free port, left running for the team to inspect or copy from.
A logical engine (pg_dump) restores into a new database on the live server. The live data is
never touched here: the lost-writes report compares it with the restored copy.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backout.db.backup import (
    LogicalBackupEngine,
    PhysicalBackupEngine,
    RestoreTarget,
    backup_engine_for,
)
from backout.db.cluster import SideCluster, os_user_for
from backout.db.connection import Database
from backout.db.copies import stop_side_cluster
from backout.db.lost_writes import lost_writes
from backout.db.switch import SwitchNames, create_database_for_run, drop_empty_database_of_run
from backout.errors import BackoutError, StepFailedError
from backout.incidents import EventKind, add_event
from backout.steps.base import StepContext, StepOutcome
from backout.store import Incident, Run

ARCHIVE_WAIT_S = 30.0


def restore_target(params: dict[str, Any]) -> RestoreTarget:
    at = params.get("time")
    return RestoreTarget(
        backup_id=params.get("backup_id"),
        time=datetime.fromisoformat(at) if at else None,
        restore_point=params.get("restore_point"),
    )


class DatabaseRestore:
    kind: ClassVar[str] = "db_restore"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        name = params["database"]
        engine = backup_engine_for(ctx.runtime.config, name)
        target = restore_target(params)
        newest = engine.newest_restorable()
        if (
            isinstance(engine, PhysicalBackupEngine)
            and _beyond_the_archive(target, newest)
            and engine.archive_pending_wal(ARCHIVE_WAIT_S)
        ):
            newest = engine.newest_restorable()
        started = time.monotonic()
        if isinstance(engine, PhysicalBackupEngine):
            where = self._beside_as_cluster(ctx, name, engine, target)
        elif isinstance(engine, LogicalBackupEngine):
            where = self._beside_as_database(ctx, name, engine, target, params.get("into"))
        else:  # pragma: no cover - every engine is one of the two
            raise StepFailedError(f"backup engine of {name!r} cannot restore")
        restore_s = time.monotonic() - started
        rpo = _achieved_rpo(_incident_time(ctx), newest)
        measured = _record_objectives(ctx, name, rpo, restore_s)
        summary = (
            f"{target.describe()} restored beside the live data: {where['conninfo']}; {measured}"
        )
        return StepOutcome.done(
            summary,
            **where,
            restore_s=round(restore_s, 3),
            rpo_s=rpo,
            newest_restorable=newest.isoformat() if newest else None,
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return None  # restoring again starts over in the same place

    @staticmethod
    def _beside_as_cluster(
        ctx: StepContext, name: str, engine: PhysicalBackupEngine, target: RestoreTarget
    ) -> dict[str, Any]:
        settings = ctx.runtime.config.database(name).cluster
        if settings is None:
            raise StepFailedError(f"databases.{name}.cluster is needed for a physical restore")
        data_dir = ctx.runtime.config.state_dir / "restores" / name / f"run-{ctx.run_id}"
        bindir = Path(settings.bindir)
        owner = os_user_for(Path(settings.data_dir), settings.os_user)
        if (data_dir / "postmaster.pid").exists():  # a restore interrupted after it started
            stop_side_cluster(data_dir, bindir, owner)
        engine.restore(target, data_dir)
        live = conninfo_to_dict(ctx.runtime.database(name).conninfo)
        side = SideCluster.start(
            data_dir,
            bindir,
            owner,
            user=str(live.get("user", "postgres")),
            password=str(live["password"]) if live.get("password") else None,
        )
        restored = side.database(str(live.get("dbname", "postgres")))
        return {
            "conninfo": restored.describe(),
            "data_dir": str(data_dir),
            "port": side.port,
            "socket_dir": str(side.socket_dir),
        }

    @staticmethod
    def _beside_as_database(
        ctx: StepContext,
        name: str,
        engine: LogicalBackupEngine,
        target: RestoreTarget,
        into: str | None,
    ) -> dict[str, Any]:
        live = ctx.runtime.database(name)
        restored = live.with_dbname(into or SwitchNames.for_run(live.dbname, ctx.run_id).restored)
        create_database_for_run(live, restored.dbname, ctx.run_id)
        try:
            engine.restore_database(target, restored)
        except Exception:
            # A whole logical restore is one transaction: a failed one left the database empty.
            # Dropping it is a courtesy: its own failure must not hide the restore's.
            with contextlib.suppress(BackoutError, psycopg.Error):
                drop_empty_database_of_run(live, restored.dbname, ctx.run_id)
            raise
        return {"conninfo": restored.describe(), "dbname": restored.dbname}


def _beyond_the_archive(target: RestoreTarget, newest: datetime | None) -> bool:
    """A moment the archived WAL does not reach yet (seconds ago, typically)."""
    return target.time is not None and (newest is None or target.time > newest)


def _record_objectives(ctx: StepContext, name: str, rpo: float | None, restore_s: float) -> str:
    """Put the achieved RPO and the restore time on the run and its incident, with the
    objective; return them as a sentence."""
    config = ctx.runtime.config
    objective = config.objectives.rpo[config.database(name).data_class].total_seconds()
    if rpo is None:
        window = f"data-loss window unknown (the {objective:.0f}s RPO objective not measured)"
    else:
        within = "within" if rpo <= objective else "OVER"
        window = f"data-loss window {rpo}s, {within} the {objective:.0f}s RPO objective"
    measured = f"restored in {restore_s:.1f}s; {window}"
    with ctx.runtime.store.session() as session:
        run = session.get(Run, ctx.run_id)
        if run is not None:
            run.rpo_s, run.restore_s = rpo, round(restore_s, 3)
        incident = session.get(Incident, ctx.incident_id) if ctx.incident_id else None
        if incident is not None:
            incident.rpo_s, incident.restore_s = rpo, round(restore_s, 3)
            incident.rpo_objective_s = objective
            add_event(
                session,
                incident.id,
                EventKind.RESTORE_MEASURED,
                measured,
                actor=ctx.actor,
                run_id=ctx.run_id,
            )
    return measured


def _incident_time(ctx: StepContext) -> datetime:
    """When the trouble was detected: what the achieved RPO is measured against."""
    with ctx.runtime.store.session() as session:
        incident = session.get(Incident, ctx.incident_id) if ctx.incident_id else None
        return incident.detected_at if incident is not None else ctx.runtime.clock.now()


def _achieved_rpo(incident_at: datetime, newest: datetime | None) -> float | None:
    """The data-loss window: from the newest restorable moment to the incident, if later."""
    if newest is None:
        return None
    return round(max((incident_at - newest).total_seconds(), 0.0), 3)


class LostWrites:
    """What the live data holds that the restored copy does not, exported to replayable files."""

    kind: ClassVar[str] = "db_lost_writes"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        name = params["database"]
        live = ctx.runtime.database(name)
        if ctx.find_output("db_switch") is not None:  # in place: the data as it was, kept, vs live
            before, after = live.with_dbname(ctx.output_of("db_switch")["kept_as"]), live
        else:
            before, after = live, restored_database(ctx, name)
        out_dir = _report_dir(ctx, name)
        report = lost_writes(
            before,
            after,
            tables=ctx.runtime.config.database(name).lost_writes_tables,
            out_dir=out_dir,
        )
        return StepOutcome.done(
            f"{report.total_rows} write(s) after the target the restore does not have "
            f"({report.inserted_rows} inserted, {report.updated_rows} updated, "
            f"{report.deleted_rows} deleted), kept in {report.path}",
            path=str(report.path),
            total_rows=report.total_rows,
            inserted_rows=report.inserted_rows,
            updated_rows=report.updated_rows,
            deleted_rows=report.deleted_rows,
            report=report.as_dict(),
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        summary = _report_dir(ctx, params["database"]) / "summary.json"
        if summary.exists():  # written whole and last: the report was complete
            return StepOutcome.done(f"the lost-writes report was already written: {summary.parent}")
        return None


def _report_dir(ctx: StepContext, name: str) -> Path:
    return ctx.runtime.config.state_dir / "lost-writes" / name / f"run-{ctx.run_id}"


def restored_database(ctx: StepContext, name: str) -> Database:
    """The copy this run's restore made (or loaded onto the live server), reached with the live
    password (which is never stored)."""
    password = conninfo_to_dict(ctx.runtime.database(name).conninfo).get("password")
    made_by = "db_copy_in" if ctx.find_output("db_copy_in") is not None else "db_restore"
    params = conninfo_to_dict(ctx.output_of(made_by)["conninfo"])
    if password:
        params["password"] = password
    return Database(f"{name} (restored)", make_conninfo(**{k: str(v) for k, v in params.items()}))
