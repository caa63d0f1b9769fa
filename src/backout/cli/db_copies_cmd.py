"""`backout db expire | copies | remove-copy`: what backout keeps on disk, and removing it.

Nothing else deletes a backup or a restored copy: each goes only through these commands,
after a confirmation.
"""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import (
    ConfigOption,
    DbArg,
    JsonOption,
    actor,
    confirm,
    human_size,
    print_json,
    print_table,
    runtime,
    say,
)
from backout.operations import database as db_ops


def register(db_app: typer.Typer) -> None:
    """Add `expire`, `copies` and `remove-copy` to the `db` command group."""
    db_app.command("expire")(expire)
    db_app.command("copies")(copies)
    db_app.command("remove-copy")(remove_copy)


def expire(
    name: DbArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete the backups retention no longer keeps (never run by anything else).

    Kept: at least retention_full (pgbackrest) or keep (pg_dump) full backups, and every
    backup and WAL segment a restore to a moment inside recovery_window needs.
    """
    with runtime(config) as rt:
        doomed = db_ops.expire_backups(rt, name, dry_run=True, actor=actor())
        if doomed and not dry_run:
            confirm(yes, f"Delete backup(s) {', '.join(doomed)} of {name}?")
            doomed = db_ops.expire_backups(rt, name, dry_run=False, actor=actor())
    if as_json:
        print_json({"database": name, "dry_run": dry_run, "expired": doomed})
        return
    if not doomed:
        say(f"{name}: nothing to expire (every backup is still kept by the retention settings)")
        return
    verb = "would delete" if dry_run else "deleted"
    say(f"{name}: {verb} {len(doomed)} backup(s): {', '.join(doomed)}")


def copies(name: DbArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The restored copies runs left beside the live data: run, where, port, size, age."""
    from backout.operations.database_copies import list_copies

    with runtime(config) as rt:
        listing = list_copies(rt, name)
    if as_json:
        print_json([c.as_dict() for c in listing])
        return
    print_table(
        f"restored copies of {name}",
        ["run", "kind", "where", "port", "running", "size", "age"],
        [
            [
                c.run_id,
                c.kind,
                c.where,
                c.port,
                "yes" if c.running else "no",
                human_size(c.size_bytes),
                _age(c.age_s),
            ]
            for c in listing
        ],
    )
    if listing:
        say(f"they stay until removed: backout db remove-copy {name} RUN")


def remove_copy(
    name: DbArg,
    run_id: Annotated[int, typer.Argument(help="The run whose restored copy goes.")],
    kept: Annotated[
        bool,
        typer.Option(
            "--kept", help="Also drop the data as it was before an in-place restore of that run."
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop and remove the restored copy a run left (its side cluster, or its database)."""
    from backout.operations.database_copies import list_copies
    from backout.operations.database_copies import remove_copy as remove

    with runtime(config) as rt:
        wanted = [c for c in list_copies(rt, name) if c.run_id == run_id]
        shown = [c.where for c in wanted if kept or c.kind != "kept database"]
        if shown:
            confirm(yes, f"Stop and delete {', '.join(shown)}?")
        removed = remove(rt, name, run_id, kept=kept, actor=actor())
    if as_json:
        print_json({"removed": [c.as_dict() for c in removed]})
        return
    for copy in removed:
        say(f"removed the {copy.kind} of run {run_id}: {copy.where}")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
