"""A database backout looks after: how to reach it, with psycopg's errors translated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backout.errors import UnavailableError

Connection = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class Database:
    """A named database and its libpq connection string (a URL or key=value pairs)."""

    name: str
    conninfo: str

    def with_dbname(self, dbname: str) -> Database:
        """The same server, another database (e.g. a restore's side database)."""
        return Database(self.name, make_conninfo(self.conninfo, dbname=dbname))

    @property
    def dbname(self) -> str:
        return str(conninfo_to_dict(self.conninfo).get("dbname", ""))

    def describe(self) -> str:
        """The conninfo without its password, for messages."""
        params = conninfo_to_dict(self.conninfo)
        params.pop("password", None)
        return make_conninfo(**{k: str(v) for k, v in params.items()})

    @contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[Connection]:
        """A connection; UnavailableError, naming the database, when it cannot be reached."""
        try:
            connection = psycopg.connect(self.conninfo, autocommit=autocommit, connect_timeout=10)
        except psycopg.OperationalError as error:
            raise UnavailableError(
                f"database {self.name!r} ({self.describe()}) is not reachable: "
                f"{' '.join(line.strip() for line in str(error).splitlines() if line.strip())}",
                hint=f"check databases.{self.name}.url in backout.yaml and that the server runs",
            ) from None
        with connection:
            yield connection
