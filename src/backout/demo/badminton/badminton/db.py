"""The database: which one, its connections, its first rows, and a health check.

$BADMINTON_DATABASE_URL (a SQLAlchemy URL, e.g. postgresql+psycopg://app@db:5432/badminton)
names the database; without it, the app keeps its data in the SQLite file $BADMINTON_DB
(default badminton.db). The schema comes from the Alembic migrations in migrations/.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.util import CommandError
from sqlalchemy import Connection, Engine, Table, create_engine, event, func, insert, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from .migrate import migrate_to_head
from .tables import bookings, court_sessions, group_members, groups, members

logger = logging.getLogger(__name__)

DATABASE_URL_ENV = "BADMINTON_DATABASE_URL"
DATABASE_ENV = "BADMINTON_DB"
DEFAULT_PATH = "badminton.db"
CONNECT_TIMEOUT_S = 3  # PostgreSQL: an unreachable server is a quick 503, not a hung check
SQLITE_BUSY_TIMEOUT_S = 5.0
# Execution option of a connection that will write: SQLite begins it with BEGIN IMMEDIATE.
WRITES = "badminton_writes"

# What a database that is down, missing or broken raises (Alembic's own errors included).
DATABASE_ERRORS = (SQLAlchemyError, CommandError)

MEMBERS = [
    ("alice@example.com", "Alice Chen"),
    ("bob@example.com", "Bob Okafor"),
    ("carla@example.com", "Carla Ruiz"),
    ("dev@example.com", "Dev Patel"),
]
GROUPS = [
    ("Tuesday Smashers", "Northside Leisure Centre"),
    ("Weekend Shuttlers", "City Sports Hall"),
]
GROUP_MEMBERS = [(1, 1), (1, 2), (1, 3), (2, 3), (2, 4)]  # (nth group, nth member)
# (nth group, court, days from the seeding day, hour, capacity)
SESSIONS = [
    (1, "Court 1", 1, 19, 4),
    (1, "Court 2", 1, 19, 4),
    (2, "Court 3", 4, 10, 6),
    (2, "Court 1", 5, 10, 6),
    (1, "Court 1", 8, 19, 4),
]
BOOKINGS = [(1, 1), (1, 2), (3, 3)]  # (nth session, nth member)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """A stored time as the API shows it; SQLite hands times back without their zone (UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def with_driver(url: URL) -> URL:
    """A plain postgresql:// URL with the driver the app ships with (psycopg 3)."""
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


def describe(error: Exception) -> str:
    """One line saying why the database failed, without SQLAlchemy's SQL and links."""
    cause: BaseException = error
    if isinstance(error, DBAPIError) and error.orig is not None:
        cause = error.orig
    text = str(cause).split("\n[SQL:")[0].split("\n(Background on")[0]
    return f"{type(cause).__name__}: {' '.join(text.split())}"


class Database:
    """One database and its connection pool; a transaction per request."""

    def __init__(self, url: URL, *, setup_url: URL | None = None, name: str | None = None) -> None:
        self.name = name or url.render_as_string(hide_password=True)
        self.engine = _engine(url)
        self._setup_url = setup_url  # SQLite: the same file, but may create it
        self._ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> Database:
        url = os.environ.get(DATABASE_URL_ENV, "").strip()
        if url:
            return cls(with_driver(make_url(url)))
        return cls.sqlite_file(os.environ.get(DATABASE_ENV, DEFAULT_PATH))

    @classmethod
    def sqlite_file(cls, path: str) -> Database:
        """The SQLite file `path`: only starting the app creates it, a request never does."""
        uri = Path(path).absolute().as_uri()
        serving = URL.create("sqlite+pysqlite", database=uri, query={"mode": "rw", "uri": "true"})
        setup = serving.update_query_dict({"mode": "rwc"})
        return cls(serving, setup_url=setup, name=path)

    @contextmanager
    def connect(self, *, writes: bool = False) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends without an error."""
        with self.engine.connect() as conn:
            if writes:
                conn.execution_options(**{WRITES: True})
            with conn.begin():
                yield conn

    def prepare(self) -> None:
        """Migrate to this release's schema and seed an empty database; safe to repeat."""
        with self._lock:
            if self._ready:
                return
            engine = self.engine if self._setup_url is None else _engine(self._setup_url, NullPool)
            try:
                with engine.connect() as conn:
                    conn.execution_options(**{WRITES: True})
                    with conn.begin():
                        migrate_to_head(conn)
                        if conn.execute(select(func.count()).select_from(members)).scalar() == 0:
                            seed(conn)
            finally:
                if engine is not self.engine:
                    engine.dispose()
            self._ready = True

    def check(self) -> str | None:
        """None when the database answers a real query, else why it does not."""
        try:
            self.prepare()
            with self.connect() as conn:
                conn.execute(select(func.count()).select_from(court_sessions)).scalar()
        except DATABASE_ERRORS as exc:
            return describe(exc)
        return None


def _engine(url: URL, poolclass: type[NullPool] | None = None) -> Engine:
    pool: dict[str, Any] = {} if poolclass is None else {"poolclass": poolclass}
    if url.get_backend_name() != "sqlite":
        # pre_ping: after a restore or a restart of the server, stale connections are replaced.
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **pool)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **pool)
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connected(dbapi_connection: Any, _: Any) -> None:
    # The driver's own transaction handling is off, so _sqlite_begin decides how each begins.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes the write lock at BEGIN: a transaction that reads first and writes later
    # could otherwise fail with "database is locked" instead of waiting its turn.
    writes = conn.get_execution_options().get(WRITES, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def insert_row(conn: Connection, table: Table, **values: Any) -> int:
    """Insert one row; its new id."""
    key = conn.execute(insert(table).values(**values)).inserted_primary_key
    if key is None:
        raise RuntimeError(f"the database returned no id for the new row of {table.name}")
    return int(key[0])


def seed(conn: Connection) -> None:
    """The few rows a fresh install shows: four members, two groups, five sessions."""
    member_ids = [insert_row(conn, members, email=email, name=name) for email, name in MEMBERS]
    group_ids = [insert_row(conn, groups, name=name, venue=venue) for name, venue in GROUPS]
    conn.execute(
        insert(group_members),
        [{"group_id": group_ids[g - 1], "member_id": member_ids[m - 1]} for g, m in GROUP_MEMBERS],
    )
    now = utc_now()
    today = now.replace(minute=0, second=0, microsecond=0)
    session_ids = [
        insert_row(
            conn,
            court_sessions,
            group_id=group_ids[group - 1],
            court=court,
            starts_at=(today + timedelta(days=days)).replace(hour=hour),
            capacity=capacity,
        )
        for group, court, days, hour, capacity in SESSIONS
    ]
    conn.execute(
        insert(bookings),
        [
            {"session_id": session_ids[s - 1], "member_id": member_ids[m - 1], "created_at": now}
            for s, m in BOOKINGS
        ],
    )
    logger.info("seeded an empty database with %d members", len(MEMBERS))
