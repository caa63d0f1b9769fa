"""The SQLite database: where it lives, its schema, its first rows, and a health check."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_PATH = "badminton.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    venue TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_members (
    group_id INTEGER NOT NULL REFERENCES groups(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    PRIMARY KEY (group_id, member_id)
);
CREATE TABLE IF NOT EXISTS court_sessions (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    court TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity > 0)
);
CREATE TABLE IF NOT EXISTS bookings (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES court_sessions(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    created_at TEXT NOT NULL,
    UNIQUE (session_id, member_id)
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members(id),
    created_at TEXT NOT NULL
);
"""

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
GROUP_MEMBERS = [(1, 1), (1, 2), (1, 3), (2, 3), (2, 4)]
# (group id, court, days from the seeding day, hour, capacity)
SESSIONS = [
    (1, "Court 1", 1, 19, 4),
    (1, "Court 2", 1, 19, 4),
    (2, "Court 3", 4, 10, 6),
    (2, "Court 1", 5, 10, 6),
    (1, "Court 1", 8, 19, 4),
]
BOOKINGS = [(1, 1), (1, 2), (3, 3)]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Database:
    """One SQLite file; a connection per request, since sqlite3 connections are cheap."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> Database:
        return cls(os.environ.get("BADMINTON_DB", DEFAULT_PATH))

    @contextmanager
    def connect(self, *, create: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode; without `create`, a missing file is an error."""
        mode = "rwc" if create else "rw"
        uri = f"{Path(self.path).absolute().as_uri()}?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    def prepare(self) -> None:
        """Create the schema and, in an empty database, the first rows; safe to repeat."""
        with self._lock:
            if self._ready:
                return
            with self.connect(create=True) as conn:
                conn.executescript(SCHEMA)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if conn.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 0:
                        seed(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            self._ready = True

    def check(self) -> str | None:
        """None when the database answers a real query, else why it does not."""
        try:
            self.prepare()
            with self.connect() as conn:
                conn.execute("SELECT COUNT(*) FROM court_sessions").fetchone()
        except sqlite3.Error as exc:
            return f"{type(exc).__name__}: {exc}"
        return None


def seed(conn: sqlite3.Connection) -> None:
    """The few rows a fresh install shows: four members, two groups, five sessions."""
    conn.executemany("INSERT INTO members (email, name) VALUES (?, ?)", MEMBERS)
    conn.executemany("INSERT INTO groups (name, venue) VALUES (?, ?)", GROUPS)
    conn.executemany("INSERT INTO group_members (group_id, member_id) VALUES (?, ?)", GROUP_MEMBERS)
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = [
        (group, court, (today + timedelta(days=days)).replace(hour=hour).isoformat(), capacity)
        for group, court, days, hour, capacity in SESSIONS
    ]
    conn.executemany(
        "INSERT INTO court_sessions (group_id, court, starts_at, capacity) VALUES (?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO bookings (session_id, member_id, created_at) VALUES (?, ?, ?)",
        [(session, member, now_iso()) for session, member in BOOKINGS],
    )
    logger.info("seeded an empty database with %d members", len(MEMBERS))
