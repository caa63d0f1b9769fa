"""Put a restored copy in the live database's place, keeping the live data under another name.

The switch is database-level, on the live server: the restored copy is first loaded there as a
database of its own, then two renames swap it with the live one in one transaction. Nothing is
dropped: the data as it was stays whole as `<name>_before_restore_run<N>`, and other databases
of the same cluster are untouched (a cluster-level swap of data directories would roll them
back too). It needs a role that may create databases and end other sessions (the database's
owner with CREATEDB, or a superuser).
"""

from __future__ import annotations

import subprocess
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from backout.db.connection import Connection, Database
from backout.db.copies import created_by_run, run_that_created
from backout.errors import StepFailedError, UnavailableError

SESSIONS_GONE_TIMEOUT_S = 10.0
_MAINTENANCE_DB = "postgres"


@dataclass(frozen=True)
class SwitchNames:
    """The three names a switch involves, all on the live server."""

    live: str
    restored: str
    kept: str

    @classmethod
    def for_run(cls, live: str, run_id: int) -> SwitchNames:
        return cls(live, f"{live}_restored_run{run_id}", f"{live}_before_restore_run{run_id}")


def create_database_for_run(server: Database, dbname: str, run_id: int) -> None:
    """Create `dbname` for a run; one this run created earlier is dropped and created again.

    A database of that name the run did not create is refused, never dropped.
    """
    with _maintenance(server) as connection:
        owner_note = _comment(connection, dbname)
        if owner_note is not None and run_that_created(owner_note) != run_id:
            raise StepFailedError(
                f"database {dbname!r} already exists on the live server",
                hint="name another database with --into, or drop that one yourself",
            )
        identifier = sql.Identifier(dbname)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(identifier))
        connection.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                identifier, sql.Literal(created_by_run(run_id, server.dbname or ""))
            )
        )


def drop_empty_database_of_run(server: Database, dbname: str, run_id: int) -> None:
    """Drop `dbname` if run `run_id` created it and it holds no table (a restore into it that
    failed, all in one transaction): left, it would be listed as a restored copy. Any other
    database is left alone."""
    with _maintenance(server) as connection:
        if run_that_created(_comment(connection, dbname) or "") != run_id:
            return
    with server.with_dbname(dbname).connect(autocommit=True) as inside:
        row = inside.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p')"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    if row is None or row[0] != 0:
        return
    with _maintenance(server) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def copy_database(source: Database, into: Database, *, bindir: Path | None) -> None:
    """Load `source`'s schema and data into the (empty) database `into`, in one transaction."""
    dump_cmd = [_tool(bindir, "pg_dump"), "-Fc", "-d", source.conninfo]
    restore_cmd = [
        _tool(bindir, "pg_restore"),
        "--exit-on-error",
        "--single-transaction",
        "-d",
        into.conninfo,
    ]
    try:
        with subprocess.Popen(dump_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as dump:
            restore = subprocess.run(
                restore_cmd, stdin=dump.stdout, capture_output=True, text=True, check=False
            )
            dump_err = dump.stderr.read().decode() if dump.stderr else ""
    except FileNotFoundError as missing:
        raise UnavailableError(
            f"{Path(str(missing.filename)).name} is not installed here",
            hint="install postgresql-client-15, or set the cluster's bindir",
        ) from None
    if dump.returncode != 0:
        raise StepFailedError(f"pg_dump of the restored copy failed: {_last_line(dump_err)}")
    if restore.returncode != 0:
        raise StepFailedError(
            f"loading the restored copy into {into.dbname!r} failed: {_last_line(restore.stderr)}"
        )


def switch_done(server: Database, names: SwitchNames) -> bool:
    """True once the live name holds the restored copy and the old data is kept."""
    with _maintenance(server) as connection:
        present = _existing(connection, names)
    return names.kept in present and names.live in present and names.restored not in present


def switch(server: Database, names: SwitchNames) -> None:
    """Rename live → kept and restored → live in one transaction, after ending live sessions."""
    with _maintenance(server, avoiding=names.live) as connection:
        present = _existing(connection, names)
        if names.kept in present and names.restored not in present:
            return  # switched already, before an interruption
        if names.restored not in present:
            raise StepFailedError(f"the restored copy {names.restored!r} is not on the server")
        live = sql.Identifier(names.live)
        if names.live in present:
            # No new session can start while the old ones are ended, or the rename would wait.
            connection.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(live))
            _end_sessions(connection, names.live)
        with connection.transaction():
            if names.live in present:
                connection.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        live, sql.Identifier(names.kept)
                    )
                )
            connection.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(names.restored), live
                )
            )
        kept = sql.Identifier(names.kept)
        connection.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(kept))


def _end_sessions(connection: Connection, dbname: str) -> None:
    deadline = time.monotonic() + SESSIONS_GONE_TIMEOUT_S
    while True:
        row = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchone()
        if row is None or row[0] == 0:
            return
        if time.monotonic() > deadline:
            connection.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(dbname))
            )
            raise StepFailedError(
                f"sessions on {dbname!r} did not end within {SESSIONS_GONE_TIMEOUT_S:.0f}s",
                hint="the live database is unchanged; resume the run to try again",
            )
        time.sleep(0.05)


def _existing(connection: Connection, names: SwitchNames) -> set[str]:
    wanted = [names.live, names.restored, names.kept]
    rows = connection.execute(
        "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (wanted,)
    ).fetchall()
    return {str(row[0]) for row in rows}


def _comment(connection: Connection, dbname: str) -> str | None:
    """None when `dbname` does not exist; else its comment ('' when it has none)."""
    row = connection.execute(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
        "WHERE datname = %s",
        (dbname,),
    ).fetchone()
    return None if row is None else str(row[0])


def _maintenance(server: Database, *, avoiding: str = "") -> AbstractContextManager[Connection]:
    """An autocommit connection for CREATE/ALTER DATABASE: to `postgres`, or to `template1`
    when `postgres` itself is to be renamed (a session cannot rename its own database)."""
    dbname = "template1" if avoiding == _MAINTENANCE_DB else _MAINTENANCE_DB
    return server.with_dbname(dbname).connect(autocommit=True)


def _tool(bindir: Path | None, name: str) -> str:
    return str(bindir / name) if bindir else name


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
