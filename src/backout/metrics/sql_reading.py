"""One round of data checks against a database, read-only and bounded in time.

A round opens one connection and runs each check in its own transaction, so that one failing
query (a typo, a timeout) costs only its own metric. The database is never written:

    PostgreSQL  every transaction is read-only (default_transaction_read_only) and each
                statement is cancelled after the timeout (statement_timeout).
    SQLite      the file is opened read-only (mode=ro) and a statement running past the
                timeout is interrupted (a progress handler).

Only the first column of the first row of a query is read.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from backout.metrics.sql_settings import CheckKind, DataCheck
from backout.redact import redact

_REASON_LENGTH = 300  # a database error can quote a whole query plan; the gist is enough
_SQLITE_PROGRESS_OPS = 1000  # SQLite virtual machine steps between two looks at the deadline


@dataclass(frozen=True)
class CheckResult:
    """What one check read: a number (a count; for freshness, epoch seconds), or why not."""

    value: float | None
    error: str | None = None


@dataclass(frozen=True)
class Round:
    """One round of every check, taken at `at` (epoch seconds); `problem` if the database
    could not be read at all (then `results` is empty)."""

    at: float
    results: Mapping[str, CheckResult]
    problem: str | None = None


class _ConnectionLost(Exception):
    """The database went away during a round (not one query's own failure)."""


def _reason(error: BaseException) -> str:
    """The database's own words for `error`, on one line, without a password."""
    original = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = " ".join(line.strip() for line in str(original).splitlines() if line.strip())
    if len(text) > _REASON_LENGTH:
        text = text[: _REASON_LENGTH - 3] + "..."
    return redact(text or type(original).__name__)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_number(value: object) -> float:
    """A count read from a query; ValueError saying what came back instead."""
    if value is None:
        raise ValueError("returned NULL, not a number")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"returned {_shown(value)} ({type(value).__name__}), not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"returned {_shown(value)}, not a finite number")
    return number


def as_epoch_seconds(value: object) -> float:
    """The time a freshness query returned, as epoch seconds (a time without a zone is UTC)."""
    if value is None:
        raise ValueError("returned NULL: no rows to take the newest time of")
    if isinstance(value, str):  # SQLite keeps times as text
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"returned {_shown(value)}, not a time") from None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return as_number(value)  # epoch seconds, as some schemas keep them
    raise ValueError(f"returned {_shown(value)} ({type(value).__name__}), not a time")


def read_value(kind: CheckKind, row: Sequence[Any] | None) -> float:
    """The first column of `row` as the number the check's metric is made of."""
    if row is None:
        raise ValueError("returned no rows")
    first = row[0]
    return as_epoch_seconds(first) if kind is CheckKind.FRESHNESS else as_number(first)


def _as_written(connection: Connection, query: str) -> str:
    """`query` for the driver's own execution, meaning what the operator wrote: no bind
    parameters, so a `:name` is SQL, and a `%` (LIKE 'a%') is not read as a placeholder by a
    driver of the `format` style (psycopg)."""
    if connection.dialect.paramstyle in ("format", "pyformat"):
        return query.replace("%", "%%")
    return query


def _sqlite_engine(url: URL, timeout_s: float) -> Engine:
    path = Path(str(url.database)).resolve()

    def connect() -> sqlite3.Connection:
        # mode=ro: a missing file is an error, not a new empty database, and nothing is written.
        return sqlite3.connect(
            f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout_s, check_same_thread=False
        )

    return create_engine("sqlite://", creator=connect, poolclass=NullPool)


def _postgres_engine(url: URL, timeout_s: float) -> Engine:
    timeout_ms = max(int(timeout_s * 1000), 1)
    options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
    connect_args = {
        "connect_timeout": max(math.ceil(timeout_s), 2),  # libpq's least useful value is 2
        "options": options,
        "application_name": "backout data checks",
    }
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


class CheckRunner:
    """Runs a source's checks against one database, one round at a time (from one thread)."""

    def __init__(self, url: URL, checks: Sequence[DataCheck], timeout: timedelta) -> None:
        self.url = url
        self.checks = list(checks)
        self.timeout_s = timeout.total_seconds()
        self.database = url.render_as_string(hide_password=True)
        self._engine: Engine | None = None

    def run_round(self) -> Round:
        """Every check once; a database that cannot be reached gives a round with a problem."""
        at = time.time()
        try:
            with self._connect() as connection:
                results = {check.name: self._run(connection, check) for check in self.checks}
        except _ConnectionLost as lost:
            return Round(at, {}, problem=f"lost the connection to {self.database}: {lost}")
        except SQLAlchemyError as error:
            return Round(at, {}, problem=f"cannot reach {self.database}: {_reason(error)}")
        return Round(at, results)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _connect(self) -> Connection:
        if self._engine is None:
            if self.url.get_backend_name() == "sqlite":
                self._engine = _sqlite_engine(self.url, self.timeout_s)
            else:
                self._engine = _postgres_engine(self.url, self.timeout_s)
        return self._engine.connect()

    def _run(self, connection: Connection, check: DataCheck) -> CheckResult:
        try:
            with connection.begin():
                self._bound_sqlite(connection)
                row = connection.exec_driver_sql(_as_written(connection, check.query)).first()
        except SQLAlchemyError as error:
            if connection.invalidated or (
                isinstance(error, DBAPIError) and error.connection_invalidated
            ):
                raise _ConnectionLost(_reason(error)) from None
            return CheckResult(None, f"the query failed: {_reason(error)}")
        try:
            return CheckResult(read_value(check.kind, row))
        except ValueError as wrong:
            return CheckResult(None, f"the query {wrong}")

    def _bound_sqlite(self, connection: Connection) -> None:
        """Interrupt a SQLite statement that runs past the timeout (PostgreSQL has its own)."""
        raw = connection.connection.driver_connection
        if isinstance(raw, sqlite3.Connection):
            deadline = time.monotonic() + self.timeout_s
            raw.set_progress_handler(lambda: time.monotonic() > deadline, _SQLITE_PROGRESS_OPS)
