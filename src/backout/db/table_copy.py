"""Copy one table between two PostgreSQL databases: its columns' definitions, then its rows.

Rows are streamed with COPY, never loaded whole: in binary form when every column's type (and
an array's element type) is one of PostgreSQL's own, whose binary form and OIDs are the same on
every server of a version — it spares both servers the text conversion; in text form otherwise
(an enum's or a composite's OID differs between the two databases, and binary arrays and
records carry it). Both sessions are set alike so that what one side writes as text reads back
the same on the other.

The source's COPY is read by `psql` (PostgreSQL's C client, in a read-only session), whose
output reaches the target's COPY in 1 MiB blocks: psycopg hands COPY's output over one row per
call, which cost as much as the rest of the copy for a table of millions of small rows. The
target's COPY stays in the caller's transaction; if psql fails, that COPY fails with it, so a
partial stream is never committed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import IO

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backout.db.connection import Connection, Database
from backout.db.integrity import TableRef
from backout.errors import StepFailedError, UnavailableError

# The text form COPY writes on one side must read back the same on the other.
COPY_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "lock_timeout": "30s",  # behind a migration's lock, fail rather than wait
}
BLOCK_BYTES = 1 << 20
COLUMNS_QUERY = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated <> '',
       cn.nspname, co.collname, a.atttypid < %s AND t.typelem < %s AND t.typtype = 'b'
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> t.typcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId: OIDs below are the same everywhere


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as format_type() spells it
    not_null: bool
    generated: bool
    collation: tuple[str, str] | None  # (schema, name) when not the type's own
    builtin: bool = False  # a type of PostgreSQL's own (FIRST_USER_OID): binary COPY is safe


def columns_of(conn: Connection, table: TableRef) -> list[Column]:
    columns = []
    for name, kind, not_null, generated, schema, collation, builtin in conn.execute(
        COLUMNS_QUERY, (FIRST_USER_OID, FIRST_USER_OID, table.oid)
    ):
        collated = (str(schema), str(collation)) if collation is not None else None
        columns.append(
            Column(str(name), str(kind), bool(not_null), bool(generated), collated, bool(builtin))
        )
    return columns


def create_statement(table: sql.Identifier, columns: list[Column]) -> sql.Composed:
    definitions = []
    for column in columns:
        # The type as the catalog spells it: format_type() quotes what needs quoting.
        part = sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.type))
        if column.collation is not None:
            part = sql.SQL("{} COLLATE {}").format(part, sql.Identifier(*column.collation))
        if column.not_null:
            part = sql.SQL("{} NOT NULL").format(part)
        definitions.append(part)
    return sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(definitions))


@dataclass(frozen=True)
class RowSource:
    """The database a table's rows are copied from: `conn` for its catalog (a read-only
    session set by set_copy_session), `database` and `psql` to read the rows."""

    conn: Connection
    database: Database
    psql: str

    @contextmanager
    def copy_out(self, query: sql.Composable) -> Iterator[Iterator[bytes]]:
        """The output of `query` (a COPY ... TO STDOUT) in blocks; StepFailedError on leaving
        the block when psql did not read it all."""
        argv = [self.psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1"]
        argv += ["--dbname", self._conninfo(), "--command", query.as_string(self.conn)]
        with tempfile.TemporaryFile() as errors, self._start(argv, errors) as psql:
            assert psql.stdout is not None
            try:
                yield iter(partial(psql.stdout.read, BLOCK_BYTES), b"")
                psql.stdout.close()  # psql gets EPIPE rather than wait for a reader
            except BaseException:
                psql.kill()
                raise
            if psql.wait() != 0:
                errors.seek(0)
                words = errors.read().decode(errors="replace").strip().splitlines()
                raise StepFailedError(
                    f"reading the rows from {self.database.name!r} failed: "
                    f"{words[-1] if words else f'psql exited {psql.returncode}'}",
                    hint="the live data was not changed",
                )

    def _conninfo(self) -> str:
        """The connection string without its password (which goes in the environment)."""
        params = conninfo_to_dict(self.database.conninfo)
        params.pop("password", None)
        return make_conninfo(**{k: str(v) for k, v in params.items()})

    def _start(self, argv: list[str], errors: IO[bytes]) -> subprocess.Popen[bytes]:
        options = [f"-c {name}={_escaped(value)}" for name, value in COPY_SETTINGS.items()]
        options.append("-c default_transaction_read_only=on")
        env = {**os.environ, "PGOPTIONS": " ".join(options), "PGAPPNAME": "backout"}
        password = conninfo_to_dict(self.database.conninfo).get("password")
        if password:
            env["PGPASSWORD"] = str(password)
        try:
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, env=env)
        except FileNotFoundError:
            raise UnavailableError(
                f"psql is not installed here ({self.psql} not found)",
                hint="install PostgreSQL's client programs (apt-get install postgresql-client-15)",
            ) from None


def _escaped(value: str) -> str:
    """A setting's value as PGOPTIONS takes it: spaces and backslashes escaped."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def stream_rows(
    source: RowSource,
    table: TableRef,
    columns: list[Column],
    target: Connection,
    into: sql.Identifier,
) -> int:
    """COPY the rows of `table` out of `source` and into `into`, one block at a time; returns
    the rows loaded."""
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    relation = relation_of(source.conn, table)
    form = sql.SQL(" (FORMAT binary)" if all(c.builtin for c in columns) else "")
    select = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT{}").format(names, relation, form)
    load = sql.SQL("COPY {} ({}) FROM STDIN{}").format(into, names, form)
    with target.cursor() as writer:
        with writer.copy(load) as rows_in, source.copy_out(select) as blocks:
            for block in blocks:
                rows_in.write(block)
        return max(writer.rowcount, 0)


def relation_of(conn: Connection, table: TableRef) -> sql.Composed:
    """The table without its inheritance children (a partitioned table with its partitions)."""
    row = conn.execute("SELECT relkind FROM pg_class WHERE oid = %s", (table.oid,)).fetchone()
    only = sql.SQL("" if row is not None and row[0] == "p" else "ONLY ")
    return sql.SQL("{}{}").format(only, table.identifier)


def count_rows(conn: Connection, relation: sql.Composable) -> int:
    """The runbook's `SELECT COUNT(*)`."""
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(relation)).fetchone()
    return int(str(row[0])) if row else 0


def set_copy_session(conn: Connection) -> None:
    for name, value in COPY_SETTINGS.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
