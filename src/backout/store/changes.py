"""A number that changes whenever anything is committed to the state store, by any process.

The API keeps what it read last (a page of runs, the facts of every service) and serves it
again while this number stays the same: the answer is never older than the last commit.
SQLite tells it through `PRAGMA data_version` on a connection of its own that never writes:
every commit of another connection, in this process or another, changes it. PostgreSQL has
no such cheap number, so there `version()` is None and nothing is kept.
"""

from __future__ import annotations

import sqlite3
import threading

from sqlalchemy import Engine


class StoreChanges:
    def __init__(self, engine: Engine) -> None:
        url = engine.url
        database = url.database if url.get_backend_name() == "sqlite" else None
        self._database = database if database and database != ":memory:" else None
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def tells(self) -> bool:
        """Whether this store can tell a change (SQLite) or not (then version() is None)."""
        return self._database is not None

    def version(self) -> int | None:
        """Changes at every commit to the store; None when the store cannot tell."""
        if self._database is None:
            return None
        with self._lock:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self._database, check_same_thread=False, isolation_level=None
                )
            (number,) = self._connection.execute("PRAGMA data_version").fetchone()
            return int(number)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
