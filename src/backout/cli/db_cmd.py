"""`backout db ...`: backups, integrity and migrations of the databases in backout.yaml."""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import typer

from backout.actions.backups import take_backup
from backout.actions.verifications import verify_database
from backout.cli import db_copies_cmd, db_table_cmd
from backout.cli._common import (
    ConfigOption,
    DbArg,
    JsonOption,
    actor,
    bounded_reason,
    confirm,
    human_size,
    parse_moment,
    print_json,
    print_table,
    runtime,
    say,
    show_step,
)
from backout.db.backup import BackupKind
from backout.errors import ConfirmationRequiredError, ExitCode, NotConfirmedError
from backout.operations import database as db_ops
from backout.operations import views
from backout.operations.database_runs import (
    ResetPreview,
    live_data_after,
    plan_reset,
    plan_revert,
    start_reset,
    start_restore,
    start_revert,
)
from backout.runs.records import RunResult, RunState
from backout.runtime import Runtime

db_app = typer.Typer(help="PostgreSQL: backups, integrity, migrations.", no_args_is_help=True)
db_table_cmd.register(db_app)
db_copies_cmd.register(db_app)


@db_app.command("setup")
def setup(
    name: DbArg,
    apply: Annotated[bool, typer.Option("--apply", help="ALTER SYSTEM the settings now.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The server settings the backup engine needs; --apply sets them (some need a restart)."""
    with runtime(config) as rt:
        settings = db_ops.setup(rt, name, apply=apply, actor=actor())
    if as_json:
        print_json([vars(s) for s in settings])
        return
    if not settings:
        say(f"{name}: its backup engine needs no server setting")
        return
    print_table(
        f"settings {name} needs",
        ["setting", "wanted", "now", "restart needed"],
        [
            [
                s.name,
                s.wanted,
                s.current,
                ("yes (set, pending)" if s.pending_restart else "yes") if s.needs_restart else "",
            ]
            for s in settings
        ],
    )
    if not apply and not all(s.ok for s in settings):
        say(f"apply them with: backout db setup {name} --apply")
    restart = [s.name for s in settings if s.needs_restart]
    if apply and restart:
        restarted = ", ".join(restart)
        say(f"restart the server to put {restarted} in effect; the other settings already are")


@db_app.command("backup")
def backup(
    name: DbArg,
    kind: Annotated[
        str | None, typer.Option(help="logical (pg_dump), or full / diff / incr (pgBackRest).")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take a backup now, and record it with the row counts it saw."""
    with runtime(config) as rt:
        info, counts = take_backup(rt, name, kind=_kind(kind), actor=actor())
    if as_json:
        print_json(
            {
                "id": info.id,
                "kind": info.kind,
                "location": info.location,
                "size_bytes": info.size_bytes,
                "row_counts": counts,
            }
        )
        return
    say(f"backup {info.id} ({info.kind}) of {name}: {info.location}")


def _kind(kind: str | None) -> BackupKind | None:
    allowed = ("logical", "full", "diff", "incr")
    if kind is not None and kind not in allowed:
        raise typer.BadParameter(f"expected one of {', '.join(allowed)}", param_hint="--kind")
    return kind  # type: ignore[return-value]


@db_app.command("backups")
def backups(name: DbArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The backups in the repository, oldest first."""
    with runtime(config) as rt:
        listing = db_ops.list_backups(rt, name)
    if as_json:
        print_json(listing)
        return
    print_table(
        f"backups of {name}",
        ["id", "kind", "started", "size", "WAL", "verified", "where"],
        [
            [
                b["id"],
                b["kind"],
                b["started_at"][:19],
                human_size(b["size_bytes"]),
                "-".join(filter(None, (b["wal_start"], b["wal_stop"]))),
                b["verified"],
                b["location"],
            ]
            for b in listing
        ],
    )


@db_app.command("verify")
def verify(
    name: DbArg,
    backup_id: Annotated[
        str | None, typer.Option("--backup", help="Compare row counts with this backup's.")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The integrity report: row counts, constraints, foreign keys, assertions, recent writes."""
    with runtime(config) as rt:
        report, reference = verify_database(rt, name, backup_id=backup_id)
    if as_json:
        print_json({"reference_backup": reference, **report.as_dict()})
    else:
        say(f"integrity of {name}" + (f" (counts against backup {reference})" if reference else ""))
        for line in report.lines():
            say(f"  {line}")
        say("ok" if report.ok else f"{len(report.problems)} problem(s)")
    raise typer.Exit(int(ExitCode.OK if report.ok else ExitCode.FAILED))


@db_app.command("migrations")
def migrations(name: DbArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Migration status from the migration tool: applied, pending, head."""
    with runtime(config) as rt:
        status = db_ops.migration_status(rt, name)
    rows: list[dict[str, Any]] = [
        {
            "revision": m.revision,
            "name": m.name,
            "applied_at": m.applied_at.isoformat() if m.applied_at else None,
        }
        for m in [*status.applied, *status.pending]
    ]
    if as_json:
        print_json({"head": status.head, "migrations": rows})
        return
    say(f"{name}: head {status.head or '(empty schema)'}")
    print_table(
        "migrations",
        ["revision", "name", "applied"],
        [[r["revision"], r["name"], r["applied_at"] or "pending"] for r in rows],
    )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("revert")
def revert(
    name: DbArg,
    to: Annotated[str, typer.Option("--to", help="The revision to go back to (or 'base').")],
    reason: Annotated[
        str, typer.Option(help="Why; goes on the incident timeline.", callback=bounded_reason)
    ] = "schema revert",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and what it drops.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revert the schema through the migration tool, after a backup and a restore point.

    A revert that would lose data stops at an approval gate (exit 6) saying what it drops:
    `backout approve RUN` carries it on.
    """
    with runtime(config) as rt:
        plan, classified = plan_revert(rt, name, to, reason=reason)
        losses = [loss.sentence() for loss in classified.losses()]
        losses += [item.sentence() for item in classified.unclassified()]
        if dry_run:
            if as_json:
                print_json(
                    {
                        "from": classified.from_revision,
                        "to": to,
                        "losses": losses,
                        "needs_approval": classified.needs_approval,
                        "steps": [{"kind": s.kind, "title": s.title} for s in plan.steps],
                    }
                )
                return
            say(f"plan: revert {name} from {classified.from_revision} to {to}")
            for line in plan.describe():
                say(f"  {line}")
            for loss in losses:
                say(f"  ! {loss}")
            say("dry run: nothing was changed")
            return
        confirm(yes, f"Revert {name} from {classified.from_revision} to {to}?")
        run = start_revert(rt, name, plan, actor=actor(), reason=reason)
        result = run.execute(None if as_json else show_step)
        _report_database_run(rt, result, as_json, shown=())


@db_app.command("restore")
def restore(
    name: DbArg,
    to_time: Annotated[
        str | None,
        typer.Option(
            "--to-time",
            help="ISO 8601 time, e.g. 2026-11-25T14:03:00+00:00; without a zone, local time "
            "(physical engines only).",
        ),
    ] = None,
    backup_id: Annotated[str | None, typer.Option("--backup", help="A backup, as it was.")] = None,
    restore_point: Annotated[
        str | None, typer.Option("--restore-point", help="A named restore point.")
    ] = None,
    into: Annotated[
        str | None, typer.Option("--into", help="Land as this new database on the live server.")
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place",
            help="Replace the live data (after a fresh, checked backup; the old data is kept).",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm --in-place.")] = False,
    reason: Annotated[
        str, typer.Option(help="Why; goes on the timeline.", callback=bounded_reason)
    ] = "data restore",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore beside the live data (a side cluster, or a new database) unless told otherwise.

    What the data held before and the restored state lacks is exported to a lost-writes report
    (CSV and replay.sql). --in-place first takes a fresh backup and checks it, then switches the
    live database over to the restored copy and keeps the data as it was under another name.
    """
    if to_time is None and backup_id is None and restore_point is None:
        raise typer.BadParameter("give --to-time, --backup or --restore-point")
    if into is not None and in_place:
        raise typer.BadParameter("--into and --in-place exclude each other")
    if in_place and not yes:
        raise ConfirmationRequiredError(
            "--in-place replaces the live data: add --yes to confirm "
            "(or leave it out to restore beside the live data first); nothing was changed"
        )
    with runtime(config) as rt:
        run = start_restore(
            rt,
            name,
            backup_id=backup_id,
            to_time=parse_moment(to_time),
            restore_point=restore_point,
            reason=reason,
            into=into,
            in_place=in_place,
            actor=actor(),
        )
        result = run.execute(None if as_json else show_step)
        shown = ("db_restore", "db_copy_in", "db_backup", "db_switch", "db_lost_writes")
        _report_database_run(rt, result, as_json, shown=shown)


@db_app.command("reset")
def reset(
    name: DbArg,
    typed_name: Annotated[
        str | None,
        typer.Option(
            "--confirm",
            help="The database's name on its server (current_database(), which --dry-run shows), "
            "typed to confirm that everything in it is dropped.",
        ),
    ] = None,
    reason: Annotated[
        str, typer.Option(help="Why; goes on the timeline.", callback=bounded_reason)
    ] = "database reset",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and what it drops.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drop everything in the database and apply every migration again (`prisma migrate reset`).

    Only once the database's name is typed, at the prompt or with --confirm NAME: its name on
    the server, which may differ from DB. A fresh backup is taken and checked first, and the
    output says where it is.
    """
    with runtime(config) as rt:
        preview = plan_reset(rt, name, reason=reason)
        dbname = preview.scope.dbname
        if dry_run:
            if typed_name is not None:
                _typed_database_name(name, preview, typed_name, as_json)
            _show_reset_plan(name, preview, as_json)
            return
        typed = _typed_database_name(name, preview, typed_name, as_json)
        run = start_reset(rt, preview, typed_dbname=typed, actor=actor(), reason=reason)
        result = run.execute(None if as_json else show_step)
        shown = ("db_backup", "db_reset", "db_upgrade")
        _report_database_run(rt, result, as_json, shown=shown, dbname=dbname)


def _report_database_run(
    rt: Runtime,
    result: RunResult,
    as_json: bool,
    *,
    shown: tuple[str, ...],
    **extra: str,
) -> NoReturn:
    """The run's end: the `shown` steps' messages, the result and, unless it succeeded, what it
    did to the live data (all in one object with --json); exits with the run's code."""
    detail = views.run_detail(rt, result.run_id)
    live = live_data_after(rt, result.run_id)
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "state": result.state,
                "message": result.message,
                **extra,
                "live_data": live,
                "steps": detail["steps"],
            }
        )
    else:
        for step in detail["steps"]:
            if step["kind"] in shown and step["message"]:
                say(step["message"])
        say(result.message)
        if result.state is not RunState.SUCCEEDED:
            say(live)
    raise typer.Exit(int(result.exit_code))


def _typed_database_name(name: str, preview: ResetPreview, given: str | None, quiet: bool) -> str:
    """The name typed at the prompt or with --confirm; not confirmed (exit 9) unless it is the
    database's name on its server, before any run is stored or anything changed."""
    dbname = preview.scope.dbname
    if given is None:
        if not sys.stdin.isatty():
            raise ConfirmationRequiredError(
                f"a reset drops everything in database {name!r}: confirm it with --confirm and "
                f"the database's name on its server (backout db reset {name} --dry-run shows it)"
            )
        if not quiet:
            _say_what_reset_drops(name, preview)
        given = typer.prompt(
            f"type the database name ({dbname}) to confirm",
            default="",
            show_default=False,
            err=True,
        )
    if given != dbname:
        raise NotConfirmedError(
            f"{given!r} is not {dbname!r}, the name of database {name!r} on its server: "
            "nothing was changed"
        )
    return given


def _say_what_reset_drops(name: str, preview: ResetPreview) -> None:
    scope, plan = preview.scope, preview.plan
    say(
        f"reset {name} (database {scope.dbname}): drop {len(scope.tables)} table(s) holding "
        f"{scope.rows} row(s), then apply {len(preview.revisions)} migration(s) "
        f"up to {plan.target_version}"
    )


def _show_reset_plan(name: str, preview: ResetPreview, as_json: bool) -> None:
    scope, plan = preview.scope, preview.plan
    if as_json:
        print_json(
            {
                "database": name,
                "dbname": scope.dbname,
                "from": preview.status.head,
                "to": plan.target_version,
                "schemas": [schema.name for schema in scope.schemas],
                "tables": scope.tables,
                "rows": scope.rows,
                "migrations": preview.revisions,
                "steps": [{"kind": s.kind, "title": s.title} for s in plan.steps],
            }
        )
        return
    _say_what_reset_drops(name, preview)
    for line in plan.describe():
        say(f"  {line}")
    for table, rows in scope.tables.items():
        say(f"  ! drops {table} ({rows} row(s))")
    say("dry run: nothing was changed")
