"""Copy one table between two PostgreSQL databases: its columns' definitions, then its rows.

Rows are streamed with COPY, never loaded whole: in binary form when every column's type (and
an array's element type) is one of PostgreSQL's own, whose binary form and OIDs are the same on
every server of a version — it spares both servers the text conversion; in text form otherwise
(an enum's or a composite's OID differs between the two databases, and binary arrays and
records carry it). Both sessions are set alike so that what one side writes as text reads back
the same on the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from backout.db.connection import Connection
from backout.db.integrity import TableRef

# The text form COPY writes on one side must read back the same on the other.
COPY_SESSION = (
    "SET TIME ZONE 'UTC'",
    "SET DateStyle TO 'ISO, MDY'",
    "SET IntervalStyle TO 'postgres'",
    "SET extra_float_digits TO 1",
    "SET bytea_output TO 'hex'",
    "SET lock_timeout TO '30s'",  # behind a migration's lock, fail rather than wait
)
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


def stream_rows(
    source: Connection,
    table: TableRef,
    columns: list[Column],
    target: Connection,
    into: sql.Identifier,
) -> int:
    """COPY the rows of `table` out of `source` and into `into`, one block at a time; returns
    the rows loaded."""
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    relation = relation_of(source, table)
    form = sql.SQL(" (FORMAT binary)" if all(c.builtin for c in columns) else "")
    select = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT{}").format(names, relation, form)
    load = sql.SQL("COPY {} ({}) FROM STDIN{}").format(into, names, form)
    with source.cursor() as reader, target.cursor() as writer:
        with reader.copy(select) as rows_out, writer.copy(load) as rows_in:
            for block in rows_out:
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
    for statement in COPY_SESSION:
        conn.execute(statement)
