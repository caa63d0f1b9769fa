"""The database steps: back up, mark a restore point, revert a schema, verify integrity."""

from __future__ import annotations

from typing import Any, ClassVar

from backout.actions.backups import backup_taken_by_run, require_checked, take_backup
from backout.actions.verifications import verify_database
from backout.db.backup import backup_engine_for
from backout.db.migrations import migration_adapter_for
from backout.db.restore_point import create_restore_point
from backout.errors import StepFailedError
from backout.steps.base import StepContext, StepOutcome
from backout.steps.database_restore import restored_database


class DatabaseBackup:
    """A fresh backup before anything changes the data; says where it is.

    With `verify`, the backup is also checked by its engine before the step succeeds: the
    steps after it (an in-place restore) may only run over data that is safely kept.
    """

    kind: ClassVar[str] = "db_backup"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        info, _ = take_backup(
            ctx.runtime,
            params["database"],
            kind=None,
            actor=ctx.actor,
            reason=params.get("reason"),
            run_id=ctx.run_id,
        )
        return _backed_up(ctx, params, info.id, info.location, "")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        taken = backup_taken_by_run(ctx.runtime, params["database"], ctx.run_id)
        if taken is None:
            return None
        return _backed_up(
            ctx, params, taken.backup_id, taken.location, " (taken before the interruption)"
        )


def _backed_up(
    ctx: StepContext, params: dict[str, Any], backup_id: str, location: str, note: str
) -> StepOutcome:
    checked = ""
    if params.get("verify"):
        engine = backup_engine_for(ctx.runtime.config, params["database"])
        report = require_checked(engine, backup_id, f"backup {backup_id} at {location}")
        checked = ", checked (" + ", ".join(report.checked) + ")"
    return StepOutcome.done(
        f"backup {backup_id} at {location}{checked}{note}", backup_id=backup_id, location=location
    )


class DatabaseRestorePoint:
    """A named point in the WAL a point-in-time restore can return to."""

    kind: ClassVar[str] = "db_restore_point"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        name = f"backout-run-{ctx.run_id}-{params['label']}"
        lsn = create_restore_point(ctx.runtime.database(params["database"]), name)
        return StepOutcome.done(f"restore point {name!r} at {lsn}", restore_point=name, lsn=lsn)

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return None  # another point of the same name is harmless; recovery stops at the first


class DatabaseRevert:
    """The schema back to a revision, through the migration tool's own down path."""

    kind: ClassVar[str] = "db_revert"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        adapter = migration_adapter_for(ctx.runtime.config, params["database"])
        plan = adapter.revert_plan(params["to"])
        planned = params["revisions"]
        if (
            [step.revision for step in plan.steps] != planned[-len(plan.steps) :]
            if plan.steps
            else []
        ):
            raise StepFailedError(
                f"the schema changed since the plan was made: it would now revert "
                f"{[s.revision for s in plan.steps]}, not {planned}",
                hint="abort this run and plan the revert again",
            )
        # What was wrong before the revert is not the revert's doing: the integrity step after
        # it fails only on new problems (bad data a release wrote needs a restore, not a stop).
        before, _ = verify_database(ctx.runtime, params["database"], estimate=True)
        adapter.revert(plan)
        return StepOutcome.done(
            f"schema at {params['to']} (reverted {', '.join(planned)})",
            problems_before=before.problems,
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        head = migration_adapter_for(ctx.runtime.config, params["database"]).status().head
        if head == params["to"] or (head is None and params["to"] == "base"):
            return StepOutcome.done(f"schema was already at {params['to']}")
        return None  # the adapter resumes a half-done revert step by step


class DatabaseVerify:
    """The integrity report; a problem fails the step (and so the run) and says what."""

    kind: ClassVar[str] = "db_verify"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        name = params["database"]
        restored = restored_database(ctx, name) if params.get("of") == "restored" else None
        # Compare with the backup this run took, not whatever backup is newest by now.
        backup_id = (ctx.find_output("db_backup") or {}).get("backup_id")
        report, reference = verify_database(
            ctx.runtime, name, backup_id=backup_id, conninfo=restored.conninfo if restored else None
        )
        known = set((ctx.find_output("db_revert") or {}).get("problems_before", []))
        new = [problem for problem in report.problems if problem not in known]
        if new:
            raise StepFailedError("integrity check failed: " + "; ".join(new))
        against = f" (row counts against backup {reference})" if reference else ""
        if report.problems:
            return StepOutcome.done(
                "no new integrity problem; already failing before the revert, so not its "
                "doing (a restore may be needed): " + "; ".join(report.problems),
                report=report.as_dict(),
            )
        return StepOutcome.done(f"integrity ok{against}", report=report.as_dict())

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        return None  # read-only
