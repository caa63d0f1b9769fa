"""`backout db restore-table`: one table of a backup brought back beside the live one, or over it.

The runbook's "Selective Data Restore" (`pg_restore -t`, then `SELECT COUNT(*)` of both), with
the backup never restored into the live database itself:

- First the backup is restored elsewhere. pg_dump: only that table, into a temporary database
  `backout_restore_<random>` on the live server (the whole backup when the table cannot come
  alone, e.g. it uses an enum of the backup); dropped afterwards. pgBackRest: the backup or the
  moment, only the live database's files where pgBackRest can select them, into
  `<state>/table-restores/<database>/`, started as a throwaway side cluster (no fsync: it is
  read once), then stopped and deleted. Only pgBackRest reaches a time.
- Beside (the default): a new table, `<table>_restored_<YYYYmmddHHMMSS>` (UTC) in the table's
  schema or the name given, never one that exists. Its DDL is built from the restored table's
  catalog (name, `format_type()`, collation, NOT NULL) — simpler and safer than renaming inside
  pg_dump's text — and, like the runbook's `CREATE TABLE ... AS`, has no defaults, keys, indexes
  or triggers (a serial default would share the live sequence). Generated columns become plain.
- Over the live table (`replace`): only if it has the backup's columns and no other table's
  foreign key references it (emptying it would break those rows; restore beside instead). After
  the caller's confirmation and a fresh backup (reason "before restore-table"), one transaction
  locks it, TRUNCATEs it and loads the rows: any failure (say a foreign key of a restored row no
  longer holds) leaves it as it was. Its triggers fire as for any COPY; sequences are not moved.
- Rows stream through COPY in both directions (binary when every column has a built-in type,
  else text with both sessions on the same date, zone and float settings), read by psql and
  never held in memory whole (table_copy.py); the restored row count is COPY's own.

A table the live database no longer has (dropped by mistake) is looked up in the backup:
`--as bookings` brings it back under its own name. Not an executor run: nothing resumes after a
crash, which may leave the temporary database or folder behind (safe to delete); the live data
changes in one transaction or not at all.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from backout import errors
from backout.actions.backups import require_checked, take_backup
from backout.audit import audit
from backout.db.backup import (
    BackupEngine,
    BackupError,
    LogicalBackupEngine,
    PhysicalBackupEngine,
    RestoreTarget,
    RestoreTargetError,
    backup_engine_for,
)
from backout.db.cluster import SideCluster, os_user_for
from backout.db.connection import Connection, Database
from backout.db.integrity import TableRef, resolve_table, user_tables
from backout.db.table_copy import (
    Column,
    RowSource,
    columns_of,
    count_rows,
    create_statement,
    relation_of,
    set_copy_session,
    stream_rows,
)
from backout.runtime import Runtime

log = logging.getLogger(__name__)

PRE_REPLACE_REASON = "before restore-table"
TEMPORARY_DATABASE_PREFIX = "backout_restore_"
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL cuts longer names silently
_REFERENCING = """
SELECT con.conname, n.nspname || '.' || c.relname FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f' AND con.confrelid = %s AND con.conrelid <> con.confrelid
  AND con.conparentid = 0 ORDER BY 2, 1
"""
_TAKEN = "SELECT to_regnamespace(quote_ident(%s)), to_regclass(quote_ident(%s) || '.' || %s)"
_BESIDE = "restore it beside the live table (without --replace) and move the rows by hand"


@dataclass(frozen=True)
class TableRestoreRequest:
    """Table `table` of database `database` as a backup or (physical engines) a moment held it."""

    database: str
    table: str  # `table`, or `schema.table`
    backup_id: str | None = None
    to_time: datetime | None = None
    new_table: str | None = None  # the copy's name, `name` or `schema.name`
    replace: bool = False

    @property
    def target(self) -> RestoreTarget:
        return RestoreTarget(backup_id=self.backup_id, time=self.to_time)


@dataclass(frozen=True)
class TableRestorePlan:
    """A request checked against the config and the live database, by plan_table_restore()."""

    request: TableRestoreRequest
    engine: BackupEngine
    engine_type: str
    live_table: TableRef | None  # None: the live database no longer has it
    live_rows: int | None
    copy_schema: str | None  # None: the restored table's own schema
    copy_name: str | None  # None when replacing

    @property
    def source_table(self) -> str:
        return self.live_table.key if self.live_table else self.request.table


@dataclass(frozen=True)
class TableRestoreResult:
    database: str
    table: str
    source: str  # the target, described
    backup_id: str | None  # the backup the rows came from (for a time: the one recovery began at)
    engine: str
    restored_table: str
    restored_rows: int
    live_table: str | None
    live_rows: int | None  # after; with replace, the rows restored
    replaced: bool
    replaced_rows: int | None  # what the live table held before a replace
    pre_replace_backup: dict[str, str] | None  # its id and location
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Restored:
    """The restored table and where its rows are read from."""

    source: RowSource
    table: TableRef
    columns: list[Column]


@dataclass(frozen=True)
class _Outcome:
    restored_table: str
    restored_rows: int
    live_rows: int | None
    replaced_rows: int | None = None
    pre_replace_backup: dict[str, str] | None = None


def plan_table_restore(runtime: Runtime, request: TableRestoreRequest) -> TableRestorePlan:
    """Check a request against the config and the live database, changing nothing."""
    settings = runtime.config.database(request.database)
    if request.replace and request.new_table:
        raise errors.RefusedError("a copy named with --as goes beside the live table: no --replace")
    engine = backup_engine_for(runtime.config, request.database)
    if request.to_time is not None and not isinstance(engine, PhysicalBackupEngine):
        raise RestoreTargetError(
            f"cannot restore a table of {request.database!r} to {request.target.describe()}: "
            f"its {settings.backup.type} backups restore only to the moment each was taken",
            hint=f"name a backup with --backup (backout db backups {request.database}), or "
            "use a physical engine (pgbackrest) for point-in-time restores",
        )
    live = runtime.database(request.database)
    with live.connect(autocommit=True) as conn:
        try:
            set_copy_session(conn)
            live_table = _live_table(conn, request)
            live_rows = count_rows(conn, relation_of(conn, live_table)) if live_table else None
            schema, name = _copy_name(request, live_table, runtime.clock.now())
            if live_table is not None and request.replace:
                _refuse_if_referenced(conn, live_table)
            elif schema is not None and name is not None:
                _refuse_if_taken(conn, request, schema, name, looked_up=live_table is None)
        except psycopg.Error as error:
            raise _failed(live, error, "reading the live table") from None
    return TableRestorePlan(
        request, engine, settings.backup.type, live_table, live_rows, schema, name
    )


def restore_table(runtime: Runtime, plan: TableRestorePlan, *, actor: str) -> TableRestoreResult:
    """Restore the table beside the live one, or (request.replace) over it; see the module."""
    started = runtime.clock.monotonic()
    request = plan.request
    live = runtime.database(request.database)
    with _restored_copy(runtime, plan) as copy, copy.connect() as source:
        try:
            source.read_only = True
            set_copy_session(source)
            table = _source_table(source, plan)
            rows = RowSource(source, copy, _psql(runtime, request.database))
            restored = _Restored(rows, table, columns_of(source, table))
        except psycopg.Error as error:
            raise _failed(copy, error, "reading the restored table") from None
        if request.replace:
            outcome = _replace(runtime, plan, live, restored, actor=actor)
        else:
            outcome = _beside(plan, live, restored)
    result = TableRestoreResult(
        database=request.database,
        table=restored.table.key,
        source=request.target.describe(),
        backup_id=_backup_used(plan.engine, request.target),
        engine=plan.engine_type,
        live_table=plan.live_table.key if plan.live_table else None,
        replaced=request.replace,
        duration_s=round(runtime.clock.monotonic() - started, 3),
        **asdict(outcome),
    )
    with runtime.store.session() as session:
        audit(session, actor, "db.table_restored", request.database, **result.as_dict())
    return result


def _live_table(conn: Connection, request: TableRestoreRequest) -> TableRef | None:
    try:
        return resolve_table(user_tables(conn), request.table)
    except errors.NotFoundError:
        if request.replace:
            raise
        return None  # perhaps dropped by mistake: looked up in the backup


def _copy_name(
    request: TableRestoreRequest, live_table: TableRef | None, now: datetime
) -> tuple[str | None, str | None]:
    """(schema, name) of the copy; a None schema is the restored table's own."""
    if request.replace:
        return None, None
    if request.new_table:
        schema, _, name = request.new_table.rpartition(".")
    else:
        schema, _, base = request.table.rpartition(".")
        suffix = f"_restored_{now:%Y%m%d%H%M%S}"
        base = live_table.name if live_table else base
        name = base.encode()[: MAX_IDENTIFIER_BYTES - len(suffix)].decode(errors="ignore") + suffix
    if not name or len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise errors.RefusedError(f"{name!r} is not a table name PostgreSQL keeps (1-63 bytes)")
    return schema or (live_table.schema if live_table else None), name


def _refuse_if_taken(
    conn: Connection, request: TableRestoreRequest, schema: str, name: str, *, looked_up: bool
) -> None:
    """Refuse a copy name that is taken, or in a schema the live database lacks.

    `looked_up`: the table is not live (to be read from the backup alone).
    """
    db = request.database
    found = conn.execute(_TAKEN, (schema, schema, sql.Identifier(name).as_string(conn)))
    namespace, relation = found.fetchone() or (None, None)
    if namespace is None and looked_up and request.new_table is None:
        # Neither the table nor its schema is live: a mistyped name far more often than a
        # schema dropped with its table.
        known = ", ".join(t.key for t in user_tables(conn)[:20]) or "(none)"
        raise errors.NotFoundError(
            f"database {db!r} has no table {request.table!r}, nor a schema {schema!r}",
            hint=f"user tables: {known}; if the schema was dropped with the table, name where "
            "its copy goes: --as SCHEMA.NEW_TABLE",
        )
    if namespace is None:
        raise errors.RefusedError(
            f"database {db!r} has no schema {schema!r} to put the copy in",
            hint="create the schema first, or name one that exists: --as SCHEMA.NEW_TABLE",
        )
    if relation is not None:
        raise _name_taken(db, f"{schema}.{name}")


def _name_taken(db: str, name: str) -> errors.RefusedError:
    return errors.RefusedError(
        f"{name} already exists in database {db!r}: the restored copy needs a new table",
        hint="name the copy with --as NEW_TABLE, or put the rows over the live table: --replace",
    )


def _refuse_if_referenced(conn: Connection, table: TableRef) -> None:
    keys = [f"{child} ({name})" for name, child in conn.execute(_REFERENCING, (table.oid,))]
    if keys:
        raise errors.RefusedError(
            f"cannot replace the rows of {table.key}: foreign keys of other tables reference it "
            f"({', '.join(keys)}), and emptying it would break or empty them",
            hint=_BESIDE,
        )


@contextmanager
def _restored_copy(runtime: Runtime, plan: TableRestorePlan) -> Iterator[Database]:
    """The database holding the restored table, removed afterwards."""
    if isinstance(plan.engine, PhysicalBackupEngine):
        with _side_cluster(runtime, plan, plan.engine) as restored:
            yield restored
    elif isinstance(plan.engine, LogicalBackupEngine):
        with _temporary_database(runtime, plan, plan.engine) as restored:
            yield restored
    else:  # pragma: no cover - every engine is one of the two
        raise BackupError(f"the {plan.engine_type} engine cannot restore")


@contextmanager
def _temporary_database(
    runtime: Runtime, plan: TableRestorePlan, engine: LogicalBackupEngine
) -> Iterator[Database]:
    live = runtime.database(plan.request.database)
    temporary = live.with_dbname(f"{TEMPORARY_DATABASE_PREFIX}{secrets.token_hex(6)}")
    _create_database(live, temporary)
    try:
        try:
            engine.restore_database(plan.request.target, temporary, tables=[plan.source_table])
        except BackupError as alone:
            log.info("%s alone: %s; restoring the whole backup", plan.source_table, alone)
            _drop_database(live, temporary)
            _create_database(live, temporary)
            engine.restore_database(plan.request.target, temporary)
        yield temporary
    finally:
        _drop_database(live, temporary)


def _create_database(live: Database, new: Database) -> None:
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0")
    with live.connect(autocommit=True) as conn:
        try:
            conn.execute(statement.format(sql.Identifier(new.dbname)))
        except psycopg.Error as error:
            raise _failed(live, error, f"creating the temporary database {new.dbname}") from None


def _drop_database(live: Database, temporary: Database) -> None:
    """Drop it; a failure is logged, never raised over the error that may be on its way."""
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    try:
        with live.connect(autocommit=True) as conn:
            conn.execute(statement.format(sql.Identifier(temporary.dbname)))
    except (errors.BackoutError, psycopg.Error) as error:
        log.warning("could not drop the temporary database %s: %s", temporary.dbname, error)


@contextmanager
def _side_cluster(
    runtime: Runtime, plan: TableRestorePlan, engine: PhysicalBackupEngine
) -> Iterator[Database]:
    name = plan.request.database
    settings = runtime.config.database(name).cluster
    if settings is None:  # pragma: no cover - the physical engine is never built without it
        raise BackupError(f"databases.{name}.cluster is needed for a physical restore")
    folder = runtime.config.state_dir / "table-restores" / name / secrets.token_hex(4)
    owner = os_user_for(runtime.config.resolve_path(settings.data_dir), settings.os_user)
    live = conninfo_to_dict(runtime.database(name).conninfo)
    user = str(live.get("user") or "postgres")
    dbname = str(live.get("dbname") or user)
    password = str(live["password"]) if live.get("password") else None
    try:
        engine.restore(plan.request.target, folder / "data", only_database=dbname)
        # Read once and deleted: it need not survive a crash, so it runs without fsync.
        started = SideCluster.start(
            folder / "data",
            Path(settings.bindir),
            owner,
            user=user,
            password=password,
            throwaway=True,
        )
        with started as side:
            yield side.database(dbname)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _psql(runtime: Runtime, name: str) -> str:
    """The psql that reads the restored rows: beside the engine's pg_dump (its bindir, else
    the cluster's), else on the PATH."""
    settings = runtime.config.database(name)
    bindir = settings.backup.settings().get("bindir")
    bindir = bindir or (settings.cluster.bindir if settings.cluster else None)
    return str(Path(str(bindir)) / "psql") if bindir else shutil.which("psql") or "psql"


def _source_table(source: Connection, plan: TableRestorePlan) -> TableRef:
    try:
        return resolve_table(user_tables(source), plan.source_table)
    except errors.NotFoundError as error:
        raise errors.NotFoundError(
            f"table {plan.request.table!r} is in neither database {plan.request.database!r} "
            f"nor {plan.request.target.describe()}",
            hint=error.hint,
        ) from None


def _beside(plan: TableRestorePlan, live: Database, restored: _Restored) -> _Outcome:
    assert plan.copy_name is not None
    copy = TableRef(0, plan.copy_schema or restored.table.schema, plan.copy_name)
    note = sql.Literal(f"restored by backout from {plan.request.target.describe()}")
    with live.connect(autocommit=True) as target:
        try:
            set_copy_session(target)
            with target.transaction():
                target.execute(create_statement(copy.identifier, restored.columns))
                target.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(copy.identifier, note))
                restored_rows = stream_rows(
                    restored.source, restored.table, restored.columns, target, copy.identifier
                )
            live_table = plan.live_table
            live_rows = count_rows(target, relation_of(target, live_table)) if live_table else None
        except psycopg.errors.DuplicateTable:
            raise _name_taken(plan.request.database, copy.key) from None
        except psycopg.Error as error:
            raise _failed(live, error, f"copying the restored rows into {copy.key}") from None
    return _Outcome(copy.key, restored_rows, live_rows)


def _replace(
    runtime: Runtime, plan: TableRestorePlan, live: Database, restored: _Restored, *, actor: str
) -> _Outcome:
    """A fresh backup, then, in one transaction under the table's lock: empty it, load the rows."""
    table = plan.live_table
    assert table is not None
    loaded = [c for c in restored.columns if not c.generated]  # the live table computes those
    with live.connect(autocommit=True) as target:
        try:
            set_copy_session(target)
            _refuse_othercolumns_of(target, table, loaded)
            pre, _ = take_backup(
                runtime, plan.request.database, kind=None, actor=actor, reason=PRE_REPLACE_REASON
            )
            # Checked before anything is replaced, as an in-place restore's: it alone undoes it.
            require_checked(
                plan.engine,
                pre.id,
                f"the backup taken before replacing the rows of {plan.request.table} "
                f"({pre.id} at {pre.location})",
            )
            with target.transaction():
                relation = relation_of(target, table)
                target.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(relation))
                _refuse_othercolumns_of(target, table, loaded)  # again, now that nothing can change
                _refuse_if_referenced(target, table)
                replaced_rows = count_rows(target, relation)
                target.execute(sql.SQL("TRUNCATE {}").format(relation))
                restored_rows = stream_rows(
                    restored.source, restored.table, loaded, target, table.identifier
                )
        except psycopg.Error as error:
            raise _failed(live, error, f"putting the restored rows over {table.key}") from None
    backup = {"id": pre.id, "location": pre.location}
    return _Outcome(table.key, restored_rows, restored_rows, replaced_rows, backup)


def _refuse_othercolumns_of(conn: Connection, table: TableRef, loaded: list[Column]) -> None:
    wanted = {(c.name, c.type) for c in loaded}
    present = {(c.name, c.type) for c in columns_of(conn, table) if not c.generated}
    if wanted != present:
        differences = [f"backup: {n} {t}" for n, t in sorted(wanted - present)]
        differences += [f"live: {n} {t}" for n, t in sorted(present - wanted)]
        raise errors.RefusedError(
            f"the columns of {table.key} differ from the backup's ({'; '.join(differences)}): "
            "the restored rows cannot go over the live table as they are",
            hint=_BESIDE,
        )


def _backup_used(engine: BackupEngine, target: RestoreTarget) -> str | None:
    """The backup named, else the one a restore starts from: the newest before the time."""
    if target.backup_id is not None:
        return target.backup_id
    backups = engine.backups()
    if target.time is not None:
        backups = [b for b in backups if b.finished_at <= target.time]
    return backups[-1].id if backups else None


def _failed(db: Database, error: psycopg.Error, doing: str) -> errors.BackoutError:
    """A psycopg error as one sentence; the live data is unchanged (its transaction rolled back)."""
    words = (error.diag.message_primary or str(error)).strip().splitlines()
    message = f"{doing} failed on {db.name!r}: {words[0] if words else type(error).__name__}"
    hint = "the live data was not changed"
    if isinstance(error, psycopg.OperationalError) and error.sqlstate is None:
        return errors.UnavailableError(message, hint=hint)
    retryable = isinstance(error, psycopg.errors.LockNotAvailable)
    return errors.StepFailedError(message, retryable=retryable, hint=hint)
