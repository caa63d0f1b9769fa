"""Running down steps written in SQL (Prisma's down.sql, the sql adapter's *.down.sql): one
transaction per step, holding the tool's advisory lock, with the head read again inside it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

import psycopg
from psycopg import errors

from backout.db.connection import Connection, Database
from backout.db.migrations.base import MigrationError, RevertPlan, RevertStep, steps_still_to_run
from backout.db.migrations.classify import runnable_statements
from backout.errors import BackoutError, UnavailableError

log = logging.getLogger(__name__)

_RETRYABLE = (errors.LockNotAvailable, errors.DeadlockDetected, errors.SerializationFailure)


class SqlBookkeeping(Protocol):
    """Where a tool records what is applied; read and written inside the step's transaction."""

    lock_key: int  # a pg_advisory_xact_lock key the tool's own runs take too

    def head(self, connection: Connection) -> str | None: ...

    def record_reverted(self, connection: Connection, step: RevertStep) -> None: ...


def revert_with_sql(
    database: Database, plan: RevertPlan, book: SqlBookkeeping, lock_timeout: timedelta
) -> None:
    """Run the plan's steps not yet reverted, each with its record, in its own transaction."""
    for _ in plan.steps:
        if not _revert_next_step(database, plan, book, lock_timeout):
            return


def _revert_next_step(
    database: Database, plan: RevertPlan, book: SqlBookkeeping, lock_timeout: timedelta
) -> bool:
    with database.connect() as connection:
        step: RevertStep | None = None
        try:
            with connection.transaction():
                take_lock(connection, book.lock_key, lock_timeout)
                remaining = steps_still_to_run(plan, book.head(connection))
                if not remaining:
                    return False
                step = remaining[0]
                source = f"the down SQL of {step.revision}"
                for statement in runnable_statements(step.sql, source=source):
                    connection.execute(statement)
                book.record_reverted(connection, step)
        except psycopg.Error as error:
            doing = f"reverting {step.revision} ({step.name})" if step else "reading the head"
            raise db_error(error, doing, rolled_back=step is not None) from None
    log.info("reverted %s (%s) of %s", step.revision, step.name, database.name)
    return True


def take_lock(connection: Connection, key: int, lock_timeout: timedelta) -> None:
    """Set this transaction's lock_timeout and take the tool's advisory lock under it."""
    milliseconds = max(1, int(lock_timeout.total_seconds() * 1000))
    connection.execute("SELECT set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"])
    connection.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def db_error(error: psycopg.Error, doing: str, *, rolled_back: bool = False) -> BackoutError:
    """psycopg's error as backout's: lost server → UnavailableError, lock waits → retryable."""
    message = f"{doing} failed: {first_line(error)}"
    if rolled_back:
        message += " (this step was rolled back; the steps before it stay reverted)"
    if isinstance(error, psycopg.OperationalError) and error.sqlstate is None:
        return UnavailableError(message, hint="check that the database server runs")
    if isinstance(error, _RETRYABLE):
        return MigrationError(
            message,
            retryable=True,
            hint="another session held a lock the step needs; retry, or raise lock_timeout",
        )
    return MigrationError(message)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
