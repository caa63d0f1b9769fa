"""`backout db restore-table`: one table of a backup beside the live one, or over it."""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import (
    ConfigOption,
    DbArg,
    JsonOption,
    actor,
    confirm,
    parse_moment,
    print_json,
    runtime,
    say,
)
from backout.operations.table_restore import (
    TableRestorePlan,
    TableRestoreRequest,
    TableRestoreResult,
    plan_table_restore,
)
from backout.operations.table_restore import restore_table as run_table_restore


def restore_table(
    name: DbArg,
    table: Annotated[str, typer.Argument(help="The table, `name` or `schema.name`.")],
    backup_id: Annotated[
        str | None, typer.Option("--backup", help="The backup to take the rows from.")
    ] = None,
    to_time: Annotated[
        str | None,
        typer.Option(
            "--to-time",
            help="ISO 8601 time, e.g. 2026-11-25T14:03:00+00:00; without a zone, local time "
            "(physical engines only).",
        ),
    ] = None,
    new_table: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Name of the restored copy (default: <table>_restored_<YYYYmmddHHMMSS>); "
            "must not exist.",
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Put the rows over the live table instead, after a fresh backup of the database.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring one table back from a backup, beside the live one, with the row counts of both.

    With --replace the rows go over the live table instead: only after a confirmation and a
    fresh backup of the database, in one transaction, and never when other tables' foreign keys
    reference it.
    """
    if backup_id is None and to_time is None:
        raise typer.BadParameter("give --backup ID or --to-time T", param_hint="--backup")
    if new_table is not None and replace:
        raise typer.BadParameter("--as names a copy beside the live table", param_hint="--replace")
    request = TableRestoreRequest(
        database=name,
        table=table,
        backup_id=backup_id,
        to_time=parse_moment(to_time),
        new_table=new_table,
        replace=replace,
    )
    with runtime(config) as rt:
        plan = plan_table_restore(rt, request)
        if replace:
            confirm(yes, _question(plan))
        result = run_table_restore(rt, plan, actor=actor())
    if as_json:
        print_json(result.as_dict())
        return
    for line in _lines(result):
        say(line)


def register(db_app: typer.Typer) -> None:
    """Add `restore-table` to the `db` command group."""
    db_app.command("restore-table")(restore_table)


def _question(plan: TableRestorePlan) -> str:
    request = plan.request
    return (
        f"Replace the {plan.live_rows} row(s) of {plan.source_table} in {request.database} "
        f"with those of {request.target.describe()}? (a backup of {request.database} is taken "
        "first)"
    )


def _lines(result: TableRestoreResult) -> list[str]:
    lines = [f"{result.table} of {result.database} restored from {result.source}"]
    if result.backup_id and result.backup_id not in result.source:
        lines[0] += f" (backup {result.backup_id})"
    if result.replaced:
        lines.append(
            f"  {result.restored_table} now holds the {result.restored_rows} row(s) restored "
            f"(it held {result.replaced_rows})"
        )
        if result.pre_replace_backup is not None:
            backup = result.pre_replace_backup
            lines.append(
                f"  the rows it held are in backup {backup['id']} (checked): {backup['location']}"
            )
        return lines
    live = f"{result.live_table}: {result.live_rows} row(s)" if result.live_table else "(none)"
    lines.append(f"  restored copy: {result.restored_table}: {result.restored_rows} row(s)")
    lines.append(f"  live table:    {live}")
    return lines
