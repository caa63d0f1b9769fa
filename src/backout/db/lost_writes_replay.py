"""`replay.sql` of the lost-writes report: the writes made after the target, applied again.

One transaction, in an order the foreign keys accept:

1. per table, parents first: the inserted rows (`INSERT ... ON CONFLICT DO NOTHING`,
   REPLAY_ROWS_PER_INSERT rows each), then the updated rows (`UPDATE ... SET` every column to
   its pre-restore value, by primary key), then each serial/identity sequence moved past the
   largest replayed value;
2. per table, children first: the deleted rows (`DELETE ... WHERE (key) IN (...)`), so a row
   is gone before the row it references.

Replaying twice changes nothing more. Values are PostgreSQL's text form of each one, written
as string literals that the column's type reads. A table the restored database lacks is
listed in a comment, not replayed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from psycopg import sql

from backout.atomic import AtomicFile
from backout.db.connection import Connection
from backout.db.integrity import TableRef

REPLAY_ROWS_PER_INSERT = 500

TextRow = tuple[str | None, ...]

HEADER = """\
-- backout lost-writes report: applies again the writes the pre-restore database received after
-- the restore target: rows inserted (skipped where their key exists), rows updated (set back to
-- their pre-restore content) and rows deleted. Inserts and updates go parents first, deletes
-- children first, all in one transaction.
SET client_encoding TO 'UTF8';
SET standard_conforming_strings TO on;
BEGIN;
"""


class Replay:
    """The replay.sql file being written; deletes are held aside until every insert is out."""

    def __init__(self, path: Path) -> None:
        self._out = AtomicFile(path)
        self._deletes: list[TextIO] = []  # one spool per table, in the order tables came

    def __enter__(self) -> Replay:
        self._out.__enter__()
        self._out.write(HEADER)
        return self

    def __exit__(self, error_type: object, *rest: object) -> None:
        try:
            if error_type is None:
                for spool in reversed(self._deletes):  # children first
                    spool.seek(0)
                    while block := spool.read(1 << 20):
                        self._out.write(block)
                self._out.write("COMMIT;\n")
        finally:
            for spool in self._deletes:
                spool.close()
            self._out.__exit__(error_type, *rest)

    def table(self, conn: Connection, table: TableRef, key: Sequence[str]) -> TableReplay:
        # Closed (and so deleted) in __exit__, after its statements are copied out.
        spool = tempfile.TemporaryFile("w+", encoding="utf-8", dir=self._out.path.parent)  # noqa: SIM115
        self._deletes.append(spool)
        return TableReplay(conn, table, key, self._out, spool)


class TableReplay:
    """One table's statements: inserts and updates now, deletes into its spool."""

    def __init__(
        self,
        conn: Connection,
        table: TableRef,
        key: Sequence[str],
        out: AtomicFile,
        deletes: TextIO,
    ) -> None:
        self._conn, self._table, self._key = conn, table, tuple(key)
        self._out, self._deletes = out, deletes
        self._name = table.identifier.as_string(conn)

    def insert(self, columns: Sequence[str], rows: Sequence[TextRow]) -> None:
        """`rows` hold the values of `columns`, in that order."""
        head = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES").format(
            self._table.identifier, _names(columns)
        )
        for chunk in _chunks(rows):
            values = ",\n  ".join(f"({', '.join(map(_literal, row))})" for row in chunk)
            self._out.write(f"{head.as_string(self._conn)}\n  {values}\nON CONFLICT DO NOTHING;\n")

    def update(self, columns: Sequence[str], rows: Sequence[TextRow]) -> None:
        """Each row's non-key columns set to its values, found by its key."""
        keys = [columns.index(c) for c in self._key]
        others = [i for i, c in enumerate(columns) if c not in self._key]
        if not others:
            return  # nothing but the key: such a row cannot have changed
        quoted = [sql.Identifier(c).as_string(self._conn) for c in columns]
        for row in rows:
            assignments = ", ".join(f"{quoted[i]} = {_literal(row[i])}" for i in others)
            where = " AND ".join(f"{quoted[i]} = {_literal(row[i])}" for i in keys)
            # Names quoted by sql.Identifier, values by _literal: nothing is taken as SQL.
            self._out.write(f"UPDATE {self._name} SET {assignments} WHERE {where};\n")  # noqa: S608

    def delete(self, keys: Sequence[TextRow]) -> None:
        """The rows with these primary key values (in the key's column order)."""
        columns = _names(self._key).as_string(self._conn)
        for chunk in _chunks(keys):
            values = ", ".join(f"({', '.join(map(_literal, key))})" for key in chunk)
            statement = f"DELETE FROM {self._name} WHERE ({columns}) IN ({values});\n"  # noqa: S608
            self._deletes.write(statement)

    def advance_sequence(self, column: str) -> None:
        """Move the column's sequence past the replayed values, never backwards."""
        statement = sql.SQL(
            "SELECT setval(seq, top::bigint) FROM (SELECT pg_get_serial_sequence({name}, {column})"
            "::regclass AS seq, (SELECT max({col}) FROM {table}) AS top) s"
            " WHERE top > coalesce(pg_sequence_last_value(seq), 0);\n"
        ).format(
            name=sql.Literal(self._name),
            column=sql.Literal(column),
            col=sql.Identifier(column),
            table=self._table.identifier,
        )
        self._out.write(statement.as_string(self._conn))

    def note(self, text: str) -> None:
        self._out.write(f"-- {text}\n")


def _names(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def _chunks(rows: Sequence[TextRow]) -> list[Sequence[TextRow]]:
    step = REPLAY_ROWS_PER_INSERT
    return [rows[i : i + step] for i in range(0, len(rows), step)]


def _literal(value: str | None) -> str:
    """A SQL string literal of PostgreSQL's text form of a value; the column's type reads it.
    Exact only under standard_conforming_strings, which replay.sql sets (a backslash is then
    an ordinary character); sql.Literal was 4x slower on a few thousand rows per second."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"
