"""Prisma Migrate projects, read exactly as Prisma defines its state (the Prisma CLI itself cannot
run here: it downloads its schema engine at first use).

On disk: `prisma/migrations/<timestamp>_<name>/migration.sql`, ordered by folder name, and
`migration_lock.toml` (`provider = "postgresql"`). In the database: `_prisma_migrations` (id,
checksum = sha256 hex of migration.sql, finished_at, migration_name = the folder name, logs,
rolled_back_at, started_at, applied_steps_count). As `prisma migrate deploy` reads it, a
migration is applied when a row has finished_at set and rolled_back_at null; a row with neither
is a failed migration; rows with rolled_back_at set are ignored.

Prisma has no down migrations: its docs tell teams to keep a `down.sql` beside each
migration.sql (made with `prisma migrate diff ... --script`). backout runs that file, then sets
`rolled_back_at` on the migration's row in the same transaction, as `prisma migrate resolve
--rolled-back` does, so a later `prisma migrate deploy` applies the migration again. Caveat,
from Prisma's engine source (diagnose_migration_history): `prisma migrate status` matches rows
by name whatever their rolled_back_at, so it keeps calling a reverted migration applied;
`backout db migrations` reports it as pending. Each step holds Prisma's own advisory lock
(72707369), so a revert and a `prisma migrate deploy` never run at once.

`upgrade()` does what `prisma migrate deploy` does (after the engine's apply_migrations.rs), for
a reset: refuse while a failed migration is recorded, create `_prisma_migrations` if missing
(with Prisma's own DDL), then run each folder's migration.sql that has no applied row, oldest
first, and record it with checksum = sha256 hex of the file, finished_at, applied_steps_count 1.
Unlike Prisma, backout runs each migration and its row in one transaction under the advisory
lock, so a failing migration leaves no half-applied state and no failed row. With `db_schema`,
the schema is created if missing and is the transaction's search_path, as the `?schema=` of
Prisma's URL makes it. Not checked against the real Prisma CLI (it cannot run here).
"""

from __future__ import annotations

import hashlib
import logging
import tomllib
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from pydantic import Field

from backout.db.connection import Connection
from backout.db.migrations._sql_steps import db_error, revert_with_sql, take_lock
from backout.db.migrations.base import (
    BASE,
    Migration,
    MigrationError,
    MigrationSettings,
    MigrationStatus,
    RevertPlan,
    RevertStep,
    Unclassified,
    database_of,
    resolve_revision,
)
from backout.db.migrations.classify import classify, read_only_connection, runnable_statements
from backout.registry import PluginContext

log = logging.getLogger(__name__)

PRISMA_LOCK_KEY = 72707369  # the advisory lock Prisma Migrate takes on PostgreSQL
TABLE = "_prisma_migrations"
# As Prisma's schema engine creates it on PostgreSQL.
_CREATE_TABLE = sql.SQL("""CREATE TABLE IF NOT EXISTS {} (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)""")
_RECORD_APPLIED = sql.SQL(
    "INSERT INTO {} (id, checksum, finished_at, migration_name, started_at, applied_steps_count)"
    " VALUES ({}, {}, clock_timestamp(), {}, now(), 1)"
)


class PrismaSettings(MigrationSettings):
    migrations_dir: str = Field(
        "prisma/migrations",
        description="Prisma's migrations folder, relative to the config file.",
    )
    db_schema: str | None = Field(
        None,
        description="The PostgreSQL schema holding _prisma_migrations (the `?schema=` of "
        "Prisma's datasource URL); default: the connection's search_path.",
    )


@dataclass(frozen=True)
class _Row:
    migration_name: str
    checksum: str
    finished_at: datetime | None
    rolled_back_at: datetime | None

    @property
    def live(self) -> bool:
        return self.finished_at is not None and self.rolled_back_at is None

    @property
    def failed(self) -> bool:
        return self.finished_at is None and self.rolled_back_at is None


class _Book:
    """_prisma_migrations, read and written inside a step's transaction."""

    lock_key = PRISMA_LOCK_KEY

    def __init__(self, table: sql.Identifier) -> None:
        self.table = table

    def head(self, connection: Connection) -> str | None:
        live = [row.migration_name for row in _rows(connection, self.table) if row.live]
        return max(live) if live else None

    def record_reverted(self, connection: Connection, step: RevertStep) -> None:
        query = sql.SQL(
            "UPDATE {} SET rolled_back_at = now() "
            "WHERE migration_name = {} AND finished_at IS NOT NULL AND rolled_back_at IS NULL"
        ).format(self.table, sql.Literal(step.revision))
        connection.execute(query)  # no %s: a schema name may hold a '%'


class PrismaAdapter:
    """Reads and reverts a Prisma project's migrations; see the module doc."""

    def __init__(self, settings: PrismaSettings, context: PluginContext) -> None:
        self._database = database_of(context)
        self._dir = context.resolve(settings.migrations_dir)
        self._lock_timeout = settings.lock_timeout
        self._db_schema = settings.db_schema
        parts = (settings.db_schema, TABLE) if settings.db_schema else (TABLE,)
        self._table = sql.Identifier(*parts)

    def status(self) -> MigrationStatus:
        folders = self._folders()
        with self._database.connect() as connection:
            rows = _rows(connection, self._table)
        return _status(folders, rows)

    def revert_plan(self, to: str) -> RevertPlan:
        folders = self._folders()
        with read_only_connection(self._database) as connection:
            rows = _rows(connection, self._table)
            status = _status(folders, rows)
            _refuse_failed(status)
            target = self._target(to, folders, status)
            newest_first = [
                m for m in reversed(status.applied) if target == BASE or m.revision > target
            ]
            self._require_down_files(newest_first)
            steps = [self._step(connection, m, rows) for m in newest_first]
        return RevertPlan(status.head, to_revision=target, steps=steps)

    def revert(self, plan: RevertPlan) -> None:
        revert_with_sql(self._database, plan, _Book(self._table), self._lock_timeout)

    def upgrade(self) -> list[str]:
        """`prisma migrate deploy`, re-implemented (see the module doc); the folders applied."""
        return [name for name in self._folders() if self._apply(name)]

    def _apply(self, name: str) -> bool:
        """One migration and its row, in one transaction; False when it was applied already."""
        path = self._dir / name / "migration.sql"
        script = path.read_bytes()
        statements = runnable_statements(script.decode("utf-8"), source=str(path))
        with self._database.connect() as connection:
            try:
                with connection.transaction():
                    take_lock(connection, PRISMA_LOCK_KEY, self._lock_timeout)
                    self._prepare(connection)
                    status = _status([name], _rows(connection, self._table))
                    _refuse_failed(status)
                    if not status.pending:
                        return False
                    for statement in statements:
                        connection.execute(statement)
                    checksum = hashlib.sha256(script).hexdigest()
                    record = _RECORD_APPLIED.format(
                        self._table,
                        sql.Literal(str(uuid.uuid4())),
                        sql.Literal(checksum),
                        sql.Literal(name),
                    )
                    connection.execute(record)  # no %s: a schema name may hold a '%'
            except psycopg.Error as error:
                raise db_error(error, f"applying {name}") from None
        log.info("applied %s to %s", name, self._database.name)
        return True

    def _prepare(self, connection: Connection) -> None:
        """The schema of `?schema=` as search_path (created if missing), and Prisma's table."""
        if self._db_schema:
            schema = sql.Identifier(self._db_schema)
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            connection.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
        connection.execute(_CREATE_TABLE.format(self._table))

    def _target(self, to: str, folders: list[str], status: MigrationStatus) -> str:
        applied = [m.revision for m in status.applied]
        target = resolve_revision(to, sorted({*folders, *applied}))
        if target != BASE and target not in applied:
            raise MigrationError(
                f"migration {target} is not applied (the head is {status.head or 'empty'})",
                hint="revert only goes back to an applied migration",
            )
        return target

    def _require_down_files(self, migrations: list[Migration]) -> None:
        missing = [
            m.revision for m in migrations if not (self._dir / m.revision / "down.sql").is_file()
        ]
        if not missing:
            return
        schema = self._dir.parent / "schema.prisma"
        raise MigrationError(
            f"no down.sql for {', '.join(missing)} in {self._dir}: Prisma has no down "
            "migrations, a revert runs the down.sql kept beside each migration.sql",
            hint=f"generate it as Prisma's guide 'Generating down migrations' says, with the "
            f"database at the migration before it: npx prisma migrate diff "
            f"--from-schema-datamodel {schema} --to-schema-datasource {schema} --script "
            f"> {self._dir}/<migration>/down.sql (Prisma 7: --from-schema / "
            "--to-config-datasource), or write it by hand",
        )

    def _step(self, connection: Connection, migration: Migration, rows: list[_Row]) -> RevertStep:
        folder = self._dir / migration.revision
        down = folder / "down.sql"
        text = down.read_text(encoding="utf-8")
        found = classify(connection, text, source=str(down))
        unclassified = list(found.unclassified)
        live = next(r for r in rows if r.live and r.migration_name == migration.revision)
        if not _matches_checksum((folder / "migration.sql").read_bytes(), live.checksum):
            reason = "migration.sql changed since it was applied: down.sql may not fit the schema"
            unclassified.append(Unclassified(f"-- {folder / 'migration.sql'}", reason))
        return RevertStep(migration.revision, migration.name, text, found.losses, unclassified)

    def _folders(self) -> list[str]:
        """Migration folder names, in Prisma's order; checks migration_lock.toml's provider."""
        if not self._dir.is_dir():
            raise MigrationError(f"the Prisma migrations folder {self._dir} does not exist")
        _check_provider(self._dir / "migration_lock.toml")
        return sorted(p.name for p in self._dir.iterdir() if (p / "migration.sql").is_file())


def _rows(connection: Connection, table: sql.Identifier) -> list[_Row]:
    """Every row of _prisma_migrations, oldest first; none when Prisma never ran here."""
    exists = connection.execute(
        "SELECT to_regclass(%s) IS NOT NULL", [table.as_string(connection)]
    ).fetchone()
    if not exists or not exists[0]:
        return []
    query = sql.SQL(
        "SELECT migration_name, checksum, finished_at, rolled_back_at FROM {} ORDER BY started_at"
    ).format(table)
    return [
        _Row(str(name), str(checksum), _time(finished), _time(rolled_back))
        for name, checksum, finished, rolled_back in connection.execute(query).fetchall()
    ]


def _status(folders: list[str], rows: list[_Row]) -> MigrationStatus:
    finished = {r.migration_name: r.finished_at for r in rows if r.live}
    failed = sorted({r.migration_name for r in rows if r.failed})
    applied = [Migration(name, _label(name), finished[name]) for name in sorted(finished)]
    pending = [
        Migration(name, _label(name), None)
        for name in folders
        if name not in finished and name not in failed
    ]
    return MigrationStatus(
        head=applied[-1].revision if applied else None,
        applied=applied,
        pending=pending,
        failed=[Migration(name, _label(name), None) for name in failed],
    )


def _refuse_failed(status: MigrationStatus) -> None:
    if status.failed:
        names = ", ".join(m.revision for m in status.failed)
        raise MigrationError(
            f"Prisma recorded failed migrations ({names}): the schema is in an unknown state",
            hint="resolve them first (prisma migrate resolve --applied | --rolled-back NAME)",
        )


def _check_provider(lock_file: Path) -> None:
    if not lock_file.is_file():
        return
    try:
        provider = tomllib.loads(lock_file.read_text(encoding="utf-8")).get("provider")
    except tomllib.TOMLDecodeError as error:
        raise MigrationError(f"{lock_file} is not valid TOML: {error}") from None
    if provider not in {None, "postgresql"}:
        raise MigrationError(
            f"{lock_file} says provider = {provider!r}; backout reverts PostgreSQL"
        )


def _matches_checksum(script: bytes, checksum: str) -> bool:
    """Prisma's comparison: sha256 hex, whatever the line endings git gave the file (and the
    unpadded hex an early Prisma version wrote)."""
    variants = {script, script.replace(b"\r\n", b"\n"), script.replace(b"\n", b"\r\n")}
    digests = [hashlib.sha256(v).digest() for v in variants]
    if len(checksum) == 64:
        return any(digest.hex() == checksum.lower() for digest in digests)
    return any("".join(f"{byte:x}" for byte in digest) == checksum for digest in digests)


def _label(folder: str) -> str:
    """`20240101120000_add_waitlist` → `add_waitlist`."""
    stamp, _, name = folder.partition("_")
    return name if stamp.isdigit() and name else folder


def _time(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None
