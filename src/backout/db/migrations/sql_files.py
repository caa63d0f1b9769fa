"""The `sql` migration tool: a folder of `NNNN_name.up.sql` / `NNNN_name.down.sql` files, and
backout's own bookkeeping table `backout_schema_migrations(revision, name, applied_at)`.

A revision is the number as written in the file name ("0002"); files are ordered by its value.
`upgrade()` applies pending up files (for teams that let backout deploy them, and for tests);
the deploy pipeline may equally run them itself and insert the rows. `revert()` runs the down
files newest first and deletes their rows, each step in one transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
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
    database_of,
    resolve_revision,
)
from backout.db.migrations.classify import classify, read_only_connection, runnable_statements
from backout.registry import PluginContext

log = logging.getLogger(__name__)

TABLE = "backout_schema_migrations"
LOCK_KEY = 0x6261636B6F7574  # "backout": its sql-tool runs exclude each other
_FILE = re.compile(r"^(?P<revision>\d+)_(?P<name>.+)\.(?P<direction>up|down)\.sql$")
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS backout_schema_migrations (
    revision   text PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class SqlFilesSettings(MigrationSettings):
    directory: str = Field(
        description="The folder of NNNN_name.up.sql / NNNN_name.down.sql files, relative to "
        "the config file."
    )


@dataclass(frozen=True)
class _Files:
    revision: str
    name: str
    up: Path | None
    down: Path | None


class _Book:
    """backout_schema_migrations, read and written inside a step's transaction."""

    lock_key = LOCK_KEY

    def head(self, connection: Connection) -> str | None:
        applied = _applied_rows(connection)
        return max(applied, key=_order) if applied else None

    def record_reverted(self, connection: Connection, step: RevertStep) -> None:
        connection.execute(
            "DELETE FROM backout_schema_migrations WHERE revision = %s", [step.revision]
        )


class SqlFilesAdapter:
    """Migrations as plain up/down SQL files; see the module doc."""

    def __init__(self, settings: SqlFilesSettings, context: PluginContext) -> None:
        self._database = database_of(context)
        self._directory = context.resolve(settings.directory)
        self._lock_timeout = settings.lock_timeout

    def status(self) -> MigrationStatus:
        files = self._files()
        with self._database.connect() as connection:
            applied = _applied_rows(connection)
        return _status(files, applied)

    def revert_plan(self, to: str) -> RevertPlan:
        files = {f.revision: f for f in self._files()}
        with read_only_connection(self._database) as connection:
            status = _status(list(files.values()), _applied_rows(connection))
            target = self._target(to, files, status)
            floor = -1 if target == BASE else _order(target)
            newest_first = [m for m in reversed(status.applied) if _order(m.revision) > floor]
            steps = [self._step(connection, files.get(m.revision), m) for m in newest_first]
        return RevertPlan(status.head, to_revision=target, steps=steps)

    def revert(self, plan: RevertPlan) -> None:
        revert_with_sql(self._database, plan, _Book(), self._lock_timeout)

    def upgrade(self, to: str | None = None) -> list[str]:
        """Apply the pending up files in order (up to `to`), one transaction each; the revisions
        applied. Idempotent: an applied revision is skipped."""
        files = self._files()
        known = [f.revision for f in files]
        last = _order(resolve_revision(to, known)) if to else None
        done = []
        for item in files:
            if (last is None or _order(item.revision) <= last) and self._apply(item):
                done.append(item.revision)
        return done

    def _target(self, to: str, files: dict[str, _Files], status: MigrationStatus) -> str:
        """The revision to revert to (or BASE), checked to be applied."""
        names = {f"{f.revision}_{f.name}": f.revision for f in files.values()}
        known = sorted({*files, *(m.revision for m in status.applied)}, key=_order)
        revision = names.get(to) or resolve_revision(to, known)
        if revision != BASE and revision not in {m.revision for m in status.applied}:
            raise MigrationError(
                f"revision {revision} is not applied (the head is {status.head or 'empty'})",
                hint="revert only goes back to an applied revision",
            )
        return revision

    def _step(self, connection: Connection, files: _Files | None, applied: Migration) -> RevertStep:
        if files is None or files.down is None:
            raise MigrationError(
                f"revision {applied.revision} ({applied.name}) has no down file in "
                f"{self._directory}",
                hint=f"write {applied.revision}_{applied.name}.down.sql that undoes its up file",
            )
        text = files.down.read_text(encoding="utf-8")
        found = classify(connection, text, source=str(files.down))
        return RevertStep(applied.revision, applied.name, text, found.losses, found.unclassified)

    def _apply(self, item: _Files) -> bool:
        if item.up is None:
            raise MigrationError(f"revision {item.revision} ({item.name}) has no up file")
        statements = runnable_statements(item.up.read_text(encoding="utf-8"), source=str(item.up))
        with self._database.connect() as connection:
            try:
                with connection.transaction():
                    take_lock(connection, LOCK_KEY, self._lock_timeout)
                    connection.execute(_CREATE_TABLE)
                    if item.revision in _applied_rows(connection):
                        return False
                    for statement in statements:
                        connection.execute(statement)
                    connection.execute(
                        "INSERT INTO backout_schema_migrations (revision, name) VALUES (%s, %s)",
                        [item.revision, item.name],
                    )
            except psycopg.Error as error:
                raise db_error(error, f"applying {item.revision} ({item.name})") from None
        log.info("applied %s (%s) to %s", item.revision, item.name, self._database.name)
        return True

    def _files(self) -> list[_Files]:
        if not self._directory.is_dir():
            raise MigrationError(f"the migrations folder {self._directory} does not exist")
        found: dict[str, dict[str, Path]] = {}
        names: dict[str, str] = {}
        for path in sorted(self._directory.iterdir()):
            match = _FILE.match(path.name)
            if match is None:
                continue
            revision, name = match["revision"], match["name"]
            if names.setdefault(revision, name) != name:
                raise MigrationError(
                    f"revision {revision} has two names in {self._directory}: "
                    f"{names[revision]!r} and {name!r}"
                )
            found.setdefault(revision, {})[match["direction"]] = path
        return [
            _Files(revision, names[revision], paths.get("up"), paths.get("down"))
            for revision, paths in sorted(found.items(), key=lambda item: _order(item[0]))
        ]


def _applied_rows(connection: Connection) -> dict[str, tuple[str, datetime]]:
    """revision → (name, applied_at); empty when the table does not exist yet."""
    exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", [TABLE]).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = connection.execute(
        "SELECT revision, name, applied_at FROM backout_schema_migrations"
    ).fetchall()
    return {str(r[0]): (str(r[1]), r[2]) for r in rows if isinstance(r[2], datetime)}


def _status(files: list[_Files], applied: dict[str, tuple[str, datetime]]) -> MigrationStatus:
    done = [Migration(rev, name, at) for rev, (name, at) in applied.items()]
    done.sort(key=lambda m: _order(m.revision))
    pending = [Migration(f.revision, f.name, None) for f in files if f.revision not in applied]
    return MigrationStatus(head=done[-1].revision if done else None, applied=done, pending=pending)


def _order(revision: str) -> int:
    return int(revision) if revision.isdigit() else -1
