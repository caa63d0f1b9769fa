"""The `pg_dump` backup engine: logical backups, one file each, restored into a database.

    backup:
      type: pg_dump
      repository: backups/main     # relative to the config file (default: <state>/backups/<db>)
      keep: 7                      # `backout db expire` keeps the newest 7 at least,
      recovery_window: 7d          # and every backup a restore this far back needs

A backup is `pg_dump -Fc` run on a snapshot that backout exports and holds open, so the row
counts it records beside the dump (`<id>.json`, with the file's size and SHA-256) are exactly
those of the dump: integrity checks compare a restore against them. The dump is written under
a temporary name and renamed; the JSON is written last, so a backup without its JSON never
happened. A logical backup restores only to the moment it was taken: `newest_restorable()` is
the newest backup's snapshot time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg import sql
from pydantic import Field

from backout.atomic import write_text_atomic
from backout.db import cluster
from backout.db.backup import retention
from backout.db.backup.base import (
    BackupError,
    BackupInfo,
    BackupKind,
    RestoreTarget,
    RestoreTargetError,
    UnknownBackupError,
    VerifyReport,
)
from backout.db.connection import Connection, Database
from backout.db.context import DbPluginContext
from backout.durations import Duration
from backout.errors import NotFoundError
from backout.registry import PluginContext, PluginSettings

_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )(\S+) (.+) \S+$")  # not TABLE DATA
# The same tables, keyed the same way, as backout.db.integrity counts: partitioned tables whole.
_USER_TABLES = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
    ORDER BY 1, 2
"""


class PgDumpSettings(PluginSettings):
    repository: str | None = Field(
        None,
        description="Folder of the dump files, relative to the config file's folder "
        "(default: <state directory>/backups/<database>).",
    )
    keep: int = Field(
        7, ge=1, description="How many backups `backout db expire` keeps at least, the newest."
    )
    recovery_window: Duration = Field(
        timedelta(days=7),
        description="`backout db expire` keeps every backup a restore to a moment this far back "
        "needs: the newest one taken before it, and every later one.",
    )
    bindir: str | None = Field(
        None,
        description="Folder of pg_dump and pg_restore (default: the database's cluster.bindir, "
        "else the PATH). pg_dump must be at least as new as the server.",
    )


def count_rows(connection: Connection) -> dict[str, int]:
    """Exact row counts of every user table ('schema.table' → rows) in the connection's current
    transaction, and so its snapshot."""
    counts = {}
    for schema, table in connection.execute(_USER_TABLES).fetchall():
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(str(schema)), sql.Identifier(str(table))
        )
        row = connection.execute(query).fetchone()
        counts[f"{schema}.{table}"] = cast(int, row[0]) if row else 0
    return counts


class PgDumpEngine:
    """Logical backups of one database with pg_dump, restored with pg_restore."""

    kinds: tuple[BackupKind, ...] = ("logical",)

    def __init__(self, settings: PgDumpSettings, context: PluginContext) -> None:
        db = DbPluginContext.of(context, "the pg_dump backup engine")
        self._database = db.database
        self._keep = settings.keep
        self._recovery_window = settings.recovery_window
        self._repository = (
            context.resolve(settings.repository)
            if settings.repository
            else db.state_dir / "backups" / db.service
        )
        bindir = settings.bindir or (db.cluster.bindir if db.cluster else None)
        self._bindir = Path(bindir) if bindir else None

    @property
    def repository(self) -> Path:
        return self._repository

    def required_settings(self) -> dict[str, str]:
        return {}

    def backup(self, kind: BackupKind | None = None) -> BackupInfo:
        if kind not in (None, "logical"):
            raise BackupError(f"the pg_dump engine takes logical backups only, not {kind!r}")
        try:
            self._repository.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BackupError(f"cannot create the repository folder: {error}") from None
        backup_id = self._new_id()
        partial = self._repository / f".{backup_id}.dump.partial"
        try:
            record = self._dump(backup_id, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        _fsync(partial)
        partial.replace(self._dump_file(backup_id))
        write_text_atomic(self._record_file(backup_id), json.dumps(record, indent=2) + "\n")
        return self._info(record)

    def backups(self) -> list[BackupInfo]:
        return [self._info(record) for record in self._records()]

    def row_counts(self, backup_id: str) -> dict[str, int]:
        """The table row counts recorded when the backup was taken."""
        return {k: int(v) for k, v in self._record(backup_id)["row_counts"].items()}

    def verify(self, backup_id: str) -> VerifyReport:
        record = self._record(backup_id)
        dump = self._dump_file(backup_id)
        checked, problems = ["dump file present"], []
        if not dump.is_file():
            problems.append(f"{dump} is missing")
        else:
            problems += self._check_file(dump, record, checked)
        report = VerifyReport(backup_id, not problems, checked, problems)
        write_text_atomic(
            self._record_file(backup_id),
            json.dumps({**record, "verified": report.ok}, indent=2) + "\n",
        )
        return report

    def expire(
        self, *, now: datetime | None = None, keep: Collection[str] = (), dry_run: bool = False
    ) -> list[str]:
        doomed = retention.expendable(
            self.backups(),
            keep_full=self._keep,
            window=self._recovery_window,
            now=now or datetime.now(UTC),
            keep=keep,
        )
        if dry_run:
            return doomed
        for backup_id in doomed:
            self._record_file(backup_id).unlink(missing_ok=True)  # first: it says "complete"
            self._dump_file(backup_id).unlink(missing_ok=True)
        return doomed

    def newest_restorable(self) -> datetime | None:
        records = self._records()
        return datetime.fromisoformat(records[-1]["started_at"]) if records else None

    def restore_database(
        self, target: RestoreTarget, into: Database, *, tables: Sequence[str] = ()
    ) -> None:
        if target.time is not None or target.restore_point is not None:
            raise RestoreTargetError(
                f"cannot restore {self._database.name!r} to {target.describe()}: logical "
                "backups restore only to the moment they were taken",
                hint="name a backup (backout db backups), or use a physical engine (pgbackrest) "
                "for point-in-time restores",
            )
        backup_id = target.backup_id or self._newest_id()
        self._record(backup_id)
        dump = self._dump_file(backup_id)
        if not tables:
            self._pg_restore(into, dump, ["--single-transaction"])
            return
        for schema, names in self._resolve_tables(dump, tables).items():
            _create_schema(into, schema)
            selection = [arg for name in names for arg in ("-t", name)]
            self._pg_restore(into, dump, ["-n", schema, *selection])

    def _dump(self, backup_id: str, partial: Path) -> dict[str, Any]:
        with self._database.connect() as connection:
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            connection.read_only = True
            try:
                row = connection.execute(
                    "SELECT pg_export_snapshot(), clock_timestamp(), "
                    "current_setting('server_version')"
                ).fetchone()
                assert row is not None
                snapshot, taken_at, version = row
                counts = count_rows(connection)
            except psycopg.Error as error:
                raise BackupError(f"cannot read {self._database.name!r}: {error}") from None
            done = cluster.run_tool(
                [
                    self._tool("pg_dump"),
                    "-Fc",
                    f"--snapshot={snapshot}",
                    "-f",
                    partial,
                    "-d",
                    self._database.conninfo,
                ],
                user=None,
            )
        if done.returncode != 0:
            raise BackupError(f"pg_dump of {self._database.name!r} failed: {_last(done.stderr)}")
        return {
            "id": backup_id,
            "kind": "logical",
            "database": self._database.name,
            "started_at": _utc(taken_at).isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "size_bytes": partial.stat().st_size,
            "sha256": _sha256(partial),
            "server_version": str(version),
            "row_counts": counts,
            "verified": None,
        }

    def _check_file(self, dump: Path, record: dict[str, Any], checked: list[str]) -> list[str]:
        problems = []
        checked.append("size as recorded")
        if dump.stat().st_size != record["size_bytes"]:
            problems.append(f"size {dump.stat().st_size} differs from {record['size_bytes']}")
        checked.append("SHA-256 as recorded")
        if _sha256(dump) != record["sha256"]:
            problems.append("checksum differs from the one recorded: the file has changed")
        checked.append("pg_restore reads every entry and data block")
        done = cluster.run_tool([self._tool("pg_restore"), "-f", os.devnull, dump], user=None)
        if done.returncode != 0:
            problems.append(f"pg_restore cannot read it: {_last(done.stderr)}")
        return problems

    def _resolve_tables(self, dump: Path, tables: Sequence[str]) -> dict[str, list[str]]:
        """'table' or 'schema.table' → {schema: [table]}, each checked against the dump."""
        listing = cluster.run_tool([self._tool("pg_restore"), "-l", dump], user=None)
        if listing.returncode != 0:
            raise BackupError(f"pg_restore cannot list {dump}: {_last(listing.stderr)}")
        present = [m.groups() for m in map(_TOC_TABLE.match, listing.stdout.splitlines()) if m]
        chosen: dict[str, list[str]] = {}
        for wanted in tables:
            schema, _, name = wanted.rpartition(".")
            matches = [(s, t) for s, t in present if t == name and schema in ("", s)]
            if len(matches) != 1:
                known = ", ".join(f"{s}.{t}" for s, t in present)
                why = "is ambiguous" if matches else "is not in the backup"
                raise NotFoundError(f"table {wanted!r} {why}", hint=f"tables in it: {known}")
            chosen.setdefault(matches[0][0], []).append(matches[0][1])
        return chosen

    def _pg_restore(self, into: Database, dump: Path, options: list[str]) -> None:
        done = cluster.run_tool(
            [self._tool("pg_restore"), "--exit-on-error", *options, "-d", into.conninfo, dump],
            user=None,
        )
        if done.returncode != 0:
            raise BackupError(
                f"pg_restore into {into.describe()} failed: {_last(done.stderr)}",
                hint="restore into a new, empty database",
            )

    def _records(self) -> list[dict[str, Any]]:
        """Every complete backup's record, oldest first."""
        if not self._repository.is_dir():
            return []
        records = []
        for path in self._repository.glob("*.json"):
            try:
                records.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a file that is not ours, or half-deleted by hand
        return sorted(records, key=lambda r: str(r.get("started_at", "")))

    def _record(self, backup_id: str) -> dict[str, Any]:
        for record in self._records():
            if record["id"] == backup_id:
                return record
        raise UnknownBackupError(backup_id, [r["id"] for r in self._records()])

    def _newest_id(self) -> str:
        records = self._records()
        if not records:
            raise BackupError(f"no logical backup of {self._database.name!r} to restore yet")
        return str(records[-1]["id"])

    def _info(self, record: dict[str, Any]) -> BackupInfo:
        return BackupInfo(
            id=record["id"],
            kind="logical",
            started_at=datetime.fromisoformat(record["started_at"]),
            finished_at=datetime.fromisoformat(record["finished_at"]),
            size_bytes=record["size_bytes"],
            location=str(self._dump_file(record["id"])),
            verified=record.get("verified"),
        )

    def _new_id(self) -> str:
        now = datetime.now(UTC)
        backup_id = f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}L"
        while self._record_file(backup_id).exists() or self._dump_file(backup_id).exists():
            backup_id = backup_id[:-1] + "xL"
        return backup_id

    def _dump_file(self, backup_id: str) -> Path:
        return self._repository / f"{backup_id}.dump"

    def _record_file(self, backup_id: str) -> Path:
        return self._repository / f"{backup_id}.json"

    def _tool(self, name: str) -> str:
        return str(self._bindir / name) if self._bindir else name


def _create_schema(into: Database, schema: str) -> None:
    with into.connect(autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def _utc(moment: object) -> datetime:
    assert isinstance(moment, datetime)
    return moment.astimezone(UTC)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _last(stderr: str) -> str:
    """The tool's own last words (pg_dump's error and its detail line)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " ".join(lines[-2:]) if lines else "(no message)"
