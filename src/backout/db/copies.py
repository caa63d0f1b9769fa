"""Restored copies a run leaves beside the live data: found, sized, stopped and removed.

A restore beside the live data leaves one of these until a person removes it (nothing expires
them: a copy may be what the team still reads from):

- a side cluster, `<state>/restores/<db>/run-N/` (pgBackRest), running on a loopback port with
  its socket and log in a `backout-side-*` folder of the system temp folder;
- a database `<live>_restored_runN` on the live server (pg_dump, or an in-place restore that
  stopped before its switch), or the one a person named with `--into`: each database a run
  creates carries the comment `backout restore run N of <live>`;
- a database `<live>_before_restore_runN`: the data as it was before an in-place restore.

What a side cluster is (its port, its socket folder, whether it runs) is read from the
`postmaster.pid` PostgreSQL writes in its data directory.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from backout.db.cluster import run_tool
from backout.db.connection import Database
from backout.errors import StepFailedError

SIDE_RUNTIME_PREFIX = "backout-side-"
_RUN_FOLDER = re.compile(r"^run-(\d+)$")
_CREATED_BY = "backout restore run {run_id} of {live}"
# Before the live database's name was in the comment, it read `backout restore run N`.
_CREATED_BY_PATTERN = re.compile(r"backout restore run (\d+)(?: of (.*))?", re.DOTALL)
_DATABASES = (
    "SELECT datname, pg_database_size(oid), coalesce(shobj_description(oid, 'pg_database'), '')"
    " FROM pg_database WHERE datname LIKE %s OR datname LIKE %s"
    " OR shobj_description(oid, 'pg_database') LIKE 'backout restore run %%'"
    " ORDER BY datname"
)


def created_by_run(run_id: int, live: str) -> str:
    """The comment a run puts on each database it creates beside the live one."""
    return _CREATED_BY.format(run_id=run_id, live=live)


def run_that_created(comment: str) -> int | None:
    """The run a database's comment says created it, or None."""
    match = _CREATED_BY_PATTERN.fullmatch(comment)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RestoredCopy:
    run_id: int
    kind: str  # "side cluster", "restored database", "kept database"
    where: str  # the data directory, or the database's name on the live server
    port: int | None
    running: bool
    size_bytes: int
    created_at: datetime | None  # a side cluster's folder's time; the caller knows the run's


@dataclass(frozen=True)
class SideServer:
    """What postmaster.pid says of a side cluster."""

    pid: int | None
    port: int | None
    socket_dir: Path | None

    @classmethod
    def of(cls, data_dir: Path) -> SideServer:
        try:
            lines = (data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return cls(None, None, None)
        field = [*lines, "", "", "", "", ""]
        pid, port, socket_dir = field[0].strip(), field[3].strip(), field[4].strip()
        return cls(
            int(pid) if pid.isdigit() else None,
            int(port) if port.isdigit() else None,
            Path(socket_dir) if socket_dir else None,
        )

    @property
    def running(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # alive, and another user's
        return True


def side_clusters(folder: Path) -> list[RestoredCopy]:
    """The side clusters under `<state>/restores/<db>/`, oldest run first."""
    found = []
    for data_dir in sorted(folder.glob("run-*")) if folder.is_dir() else []:
        match = _RUN_FOLDER.match(data_dir.name)
        if not match or not data_dir.is_dir():
            continue
        server = SideServer.of(data_dir)
        running = server.running
        found.append(
            RestoredCopy(
                run_id=int(match.group(1)),
                kind="side cluster",
                where=str(data_dir),
                port=server.port if running else None,
                running=running,
                size_bytes=folder_size(data_dir),
                created_at=datetime.fromtimestamp(data_dir.stat().st_ctime, UTC),
            )
        )
    return sorted(found, key=lambda c: c.run_id)


def restored_databases(live: Database) -> list[RestoredCopy]:
    """The databases of the live server runs made from its data: `<live>_restored_runN`,
    `<live>_before_restore_runN`, and those named with `--into` (found by their comment)."""
    name = live.dbname or ""
    escaped = name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    patterns = (f"{escaped}\\_restored\\_run%", f"{escaped}\\_before\\_restore\\_run%")
    port = _port(live)
    found = []
    with live.connect(autocommit=True) as connection:
        for datname, size, comment in connection.execute(_DATABASES, patterns).fetchall():
            kind, run = _copy_of(name, str(datname), str(comment))
            if run is not None:
                found.append(
                    RestoredCopy(run, kind, str(datname), port, True, int(str(size)), None)
                )
    return sorted(found, key=lambda c: c.run_id)


def _copy_of(live: str, datname: str, comment: str) -> tuple[str, int | None]:
    """What `datname` is to the live database `live`: its kind and run, or run None."""
    for prefix, kind in (
        (f"{live}_restored_run", "restored database"),
        (f"{live}_before_restore_run", "kept database"),
    ):
        run = datname[len(prefix) :]
        if datname.startswith(prefix) and run.isdigit():
            return kind, int(run)
    match = _CREATED_BY_PATTERN.fullmatch(comment)
    # The live database itself carries a comment when an in-place restore put it there.
    if match and match.group(2) == live and datname != live:
        return "restored database", int(match.group(1))
    return "", None


def stop_side_cluster(data_dir: Path, bindir: Path, os_user: str | None) -> None:
    """Stop it (fast, then immediate) and remove its socket folder; its data stays."""
    server = SideServer.of(data_dir)
    for mode in ("fast", "immediate"):
        if not (data_dir / "postmaster.pid").exists():
            break
        run_tool([bindir / "pg_ctl", "stop", "-m", mode, "-w", "-D", data_dir], user=os_user)
    if (data_dir / "postmaster.pid").exists() and server.running:
        raise StepFailedError(f"the side cluster in {data_dir} did not stop")
    socket_dir = server.socket_dir
    if socket_dir is not None and socket_dir.name.startswith(SIDE_RUNTIME_PREFIX):
        shutil.rmtree(socket_dir, ignore_errors=True)


def remove_side_cluster(data_dir: Path, bindir: Path, os_user: str | None) -> None:
    stop_side_cluster(data_dir, bindir, os_user)
    shutil.rmtree(data_dir)


def drop_database(live: Database, dbname: str) -> None:
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    try:
        with live.connect(autocommit=True) as connection:
            connection.execute(statement.format(sql.Identifier(dbname)))
    except psycopg.Error as error:
        raise StepFailedError(f"could not drop database {dbname!r}: {error}") from None


def folder_size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # removed while we looked (the server writes here)
    return total


def _port(live: Database) -> int:
    port = str(conninfo_to_dict(live.conninfo).get("port") or "5432")
    return int(port) if port.isdigit() else 5432
