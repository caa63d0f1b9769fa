"""The steps of a reset (`backout db reset`): drop everything, then apply every migration again.

Both run only after the plan's checked backup (db_backup with verify), and both can be observed
after a crash: the drop is one transaction, the migrations are applied through the tool, which
records each.
"""

from __future__ import annotations

from typing import Any, ClassVar

from backout.db.migrations import migration_adapter_for
from backout.db.reset import drop_everything, is_empty
from backout.errors import StepFailedError
from backout.steps.base import StepContext, StepOutcome


class DatabaseReset:
    """Every user schema dropped, `public` made again as it was, in one transaction."""

    kind: ClassVar[str] = "db_reset"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        backup = ctx.output_of("db_backup")  # never without the backup this run took first
        dropped = drop_everything(ctx.runtime.database(params["database"]), dbname=params["dbname"])
        tables = f"{len(dropped.tables)} table(s)"
        return StepOutcome.done(
            f"dropped schema(s) {', '.join(dropped.schemas) or '(none)'} of {params['dbname']} "
            f"({tables}); the data as it was is in backup {backup['backup_id']}",
            schemas=dropped.schemas,
            tables=dropped.tables,
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        name = params["database"]
        if not is_empty(ctx.runtime.database(name)):
            return None  # the drop's transaction never committed: run it again
        if migration_adapter_for(ctx.runtime.config, name).status().head is not None:
            return None
        return StepOutcome.done(f"{params['dbname']} was already empty")


class DatabaseUpgrade:
    """Every migration applied through the migration tool, oldest first."""

    kind: ClassVar[str] = "db_upgrade"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        adapter = migration_adapter_for(ctx.runtime.config, params["database"])
        applied = adapter.upgrade()
        status = adapter.status()
        if status.pending or status.failed:
            left = [m.revision for m in (*status.failed, *status.pending)]
            raise StepFailedError(
                f"migrations still not applied after the upgrade: {', '.join(left)}",
                hint=f"look at them with: backout db migrations {params['database']}",
            )
        return StepOutcome.done(
            f"schema at {status.head or '(no migration)'}: applied {len(applied)} migration(s)"
            + (f" ({', '.join(applied)})" if applied else ""),
            head=status.head,
            applied=applied,
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        status = migration_adapter_for(ctx.runtime.config, params["database"]).status()
        if status.pending or status.failed:
            return None  # upgrade() skips what is applied and goes on from there
        return StepOutcome.done(f"schema was already at {status.head}", head=status.head)
