"""Bring a restored copy onto the live server, and switch the live database over to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from backout.db.cluster import os_user_for
from backout.db.copies import remove_side_cluster
from backout.db.switch import SwitchNames, copy_database, create_database_for_run, switch
from backout.db.switch import switch_done as already_switched
from backout.runtime import Runtime
from backout.steps.base import StepContext, StepOutcome
from backout.steps.database_restore import restored_database


class DatabaseCopyIn:
    """Load the side cluster's restored database onto the live server, then retire the side."""

    kind: ClassVar[str] = "db_copy_in"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        name = params["database"]
        live = ctx.runtime.database(name)
        target = live.with_dbname(
            params.get("into") or SwitchNames.for_run(live.dbname, ctx.run_id).restored
        )
        create_database_for_run(live, target.dbname, ctx.run_id)
        copy_database(restored_database(ctx, name), target, bindir=_bindir(ctx.runtime, name))
        _retire_side_cluster(ctx, name)
        return _copied(target.describe(), target.dbname)

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        side = Path(ctx.output_of("db_restore")["data_dir"])
        if side.exists():
            return None  # copy again: the run's own partial copy is dropped first
        live = ctx.runtime.database(params["database"])
        target = live.with_dbname(
            params.get("into") or SwitchNames.for_run(live.dbname, ctx.run_id).restored
        )
        return _copied(target.describe(), target.dbname)


def _copied(conninfo: str, dbname: str) -> StepOutcome:
    return StepOutcome.done(
        f"restored copy loaded onto the live server as {dbname!r}", conninfo=conninfo, dbname=dbname
    )


def _bindir(runtime: Runtime, name: str) -> Path | None:
    cluster = runtime.config.database(name).cluster
    return Path(cluster.bindir) if cluster else None


def _retire_side_cluster(ctx: StepContext, name: str) -> None:
    """Stop the side cluster and remove its data: every row of it is on the live server now."""
    settings = ctx.runtime.config.database(name).cluster
    data_dir = Path(ctx.output_of("db_restore")["data_dir"])
    if settings is None or not data_dir.exists():
        return
    owner = os_user_for(Path(settings.data_dir), settings.os_user)
    remove_side_cluster(data_dir, Path(settings.bindir), owner)  # its socket folder too


class DatabaseSwitch:
    """The live name over to the restored copy; the data as it was is kept under another name."""

    kind: ClassVar[str] = "db_switch"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        live = ctx.runtime.database(params["database"])
        names = SwitchNames.for_run(live.dbname, ctx.run_id)
        switch(live, names)
        return _switched(names)

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        live = ctx.runtime.database(params["database"])
        names = SwitchNames.for_run(live.dbname, ctx.run_id)
        return _switched(names) if already_switched(live, names) else None


def _switched(names: SwitchNames) -> StepOutcome:
    return StepOutcome.done(
        f"{names.live!r} now holds the restored data; the data as it was is kept whole as "
        f"{names.kept!r}",
        kept_as=names.kept,
    )
