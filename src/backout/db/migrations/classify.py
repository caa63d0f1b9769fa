"""What a down step would destroy: its SQL parsed with PostgreSQL's own grammar (pglast, i.e.
libpg_query), each statement judged, and the rows that hold data there counted on the live
database, read-only.

    DROP TABLE t                    table t, rows = count(*)
    ALTER TABLE t DROP COLUMN c     column t.c, rows = count(*) where c is not null
    TRUNCATE t / DELETE FROM t      rows: count(*) (a DELETE's own WHERE, when it has no USING)
    DROP CONSTRAINT / DROP INDEX    reported, 0 rows (no row data), as are views, sequences,
                                    types, functions and triggers dropped without CASCADE
    CREATE ..., ADD COLUMN, INSERT, RENAME, COMMENT, GRANT, BEGIN/COMMIT    keep data: not listed

Everything else (UPDATE, ALTER COLUMN TYPE, DROP ... CASCADE of a type, DROP SCHEMA, DO blocks,
a SELECT that may call functions, a drop whose object does not exist now ...) is listed as
Unclassified with the reason: an unknown counts as a possible loss and needs approval, because
missing a real loss costs far more than asking once too often.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pglast
import psycopg
from pglast import ast
from pglast.enums.nodes import OnConflictAction
from pglast.enums.parsenodes import AlterTableType, DropBehavior, ObjectType, TransactionStmtKind
from pglast.stream import RawStream
from psycopg import errors, sql

from backout.db.connection import Connection, Database
from backout.db.migrations.base import DataLoss, MigrationError, Unclassified
from backout.errors import UnavailableError

_KEEPS_DATA = (
    ast.CreateStmt,
    ast.IndexStmt,
    ast.ViewStmt,
    ast.CreateSeqStmt,
    ast.AlterSeqStmt,
    ast.CreateEnumStmt,
    ast.AlterEnumStmt,
    ast.CompositeTypeStmt,
    ast.CreateDomainStmt,
    ast.CreateFunctionStmt,
    ast.CreateTrigStmt,
    ast.CreateExtensionStmt,
    ast.CreateSchemaStmt,
    ast.CreateTableAsStmt,
    ast.CreatePolicyStmt,
    ast.CommentStmt,
    ast.GrantStmt,
    ast.RenameStmt,
    ast.AlterOwnerStmt,
    ast.VariableSetStmt,
)
_SAFE_ALTER_TABLE = {
    AlterTableType.AT_AddColumn,
    AlterTableType.AT_ColumnDefault,
    AlterTableType.AT_DropNotNull,
    AlterTableType.AT_SetNotNull,
    AlterTableType.AT_AddIndex,
    AlterTableType.AT_AddConstraint,
    AlterTableType.AT_ValidateConstraint,
    AlterTableType.AT_AddIndexConstraint,
    AlterTableType.AT_SetStatistics,
    AlterTableType.AT_SetStorage,
    AlterTableType.AT_ChangeOwner,
    AlterTableType.AT_ClusterOn,
    AlterTableType.AT_DropCluster,
    AlterTableType.AT_EnableTrig,
    AlterTableType.AT_DisableTrig,
    AlterTableType.AT_EnableRowSecurity,
    AlterTableType.AT_DisableRowSecurity,
    AlterTableType.AT_ReplicaIdentity,
    AlterTableType.AT_AddIdentity,
    AlterTableType.AT_SetIdentity,
}
_DROPPED_WITHOUT_ROW_DATA = {
    ObjectType.OBJECT_INDEX: "index",
    ObjectType.OBJECT_VIEW: "view",
    ObjectType.OBJECT_MATVIEW: "materialized view",
    ObjectType.OBJECT_SEQUENCE: "sequence",
    ObjectType.OBJECT_TYPE: "type",
    ObjectType.OBJECT_DOMAIN: "domain",
    ObjectType.OBJECT_FUNCTION: "function",
    ObjectType.OBJECT_PROCEDURE: "procedure",
    ObjectType.OBJECT_TRIGGER: "trigger",
    ObjectType.OBJECT_RULE: "rule",
    ObjectType.OBJECT_POLICY: "policy",
}
_OPENS_OR_CLOSES = {
    TransactionStmtKind.TRANS_STMT_BEGIN,
    TransactionStmtKind.TRANS_STMT_START,
    TransactionStmtKind.TRANS_STMT_COMMIT,
}
_MISSING = (errors.UndefinedTable, errors.UndefinedColumn, errors.InvalidSchemaName)


@dataclass(frozen=True)
class Statement:
    sql: str
    node: ast.Node


@dataclass
class Classification:
    losses: list[DataLoss] = field(default_factory=list)
    unclassified: list[Unclassified] = field(default_factory=list)


class _CannotCount(Exception):
    def __init__(self, reason: str, *, missing: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def parse_statements(text: str, *, source: str = "the SQL") -> list[Statement]:
    """Each statement of `text` with its parse tree; MigrationError naming `source` if invalid."""
    try:
        raw = pglast.parse_sql(text)
        pieces = pglast.split(text)
    except pglast.parser.ParseError as error:
        raise MigrationError(f"{source} is not valid PostgreSQL: {error}") from None
    pairs = zip(pieces, raw, strict=True)
    return [Statement(piece, stmt.stmt) for piece, stmt in pairs if stmt.stmt is not None]


def runnable_statements(text: str, *, source: str) -> list[str]:
    """The statements a down step executes: its own BEGIN/COMMIT dropped (backout wraps each step
    in one transaction); any other transaction control is refused, since it would break that."""
    runnable = []
    for statement in parse_statements(text, source=source):
        if isinstance(statement.node, ast.TransactionStmt):
            if statement.node.kind in _OPENS_OR_CLOSES:
                continue
            raise MigrationError(
                f"{source} controls its own transaction ({statement.sql!r})",
                hint="each down step runs in one transaction of its own: remove ROLLBACK, "
                "SAVEPOINT and PREPARE TRANSACTION from it",
            )
        runnable.append(statement.sql)
    return runnable


@contextmanager
def read_only_connection(database: Database) -> Iterator[Connection]:
    """A connection whose every transaction is READ ONLY: counting can never write."""
    with database.connect() as connection:
        connection.read_only = True
        yield connection


def classify(
    connection: Connection,
    text: str,
    *,
    source: str = "the SQL",
    ignore_tables: Collection[str] = (),
) -> Classification:
    """Judge every statement of `text` (see the module doc); `ignore_tables` are the tool's own
    bookkeeping (alembic_version), whose statements are not the schema's business."""
    judge = _Judge(connection)
    for statement in parse_statements(text, source=source):
        if not _touches_only(statement.node, ignore_tables):
            judge.statement(statement)
    return judge.result


class _Judge:
    """Judges statements one by one into `result`, counting rows on `connection`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.result = Classification()

    def statement(self, statement: Statement) -> None:
        node = statement.node
        if isinstance(node, _KEEPS_DATA):
            return
        if isinstance(node, ast.TransactionStmt) and node.kind in _OPENS_OR_CLOSES:
            return
        if isinstance(node, ast.InsertStmt) and not _overwrites(node):
            return
        if isinstance(node, ast.DropStmt):
            self._drop(statement, node)
        elif isinstance(node, ast.AlterTableStmt):
            self._alter_table(statement, node)
        elif isinstance(node, ast.TruncateStmt):
            self._truncate(statement, node)
        elif isinstance(node, ast.DeleteStmt):
            self._delete(statement, node)
        else:
            self._unknown(statement, _why_unknown(node))

    def _drop(self, statement: Statement, node: ast.DropStmt) -> None:
        objects = node.objects or ()
        if node.removeType == ObjectType.OBJECT_TABLE:
            for obj in objects:
                parts = _name_parts(obj)
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*parts))
                self._counted(statement, "table", ".".join(parts), query, bool(node.missing_ok))
            return
        kind = _DROPPED_WITHOUT_ROW_DATA.get(node.removeType)  # type: ignore[arg-type]
        if kind is None:
            self._unknown(
                statement, f"dropping a {_object_type_name(node.removeType)} may drop data"
            )
        elif node.behavior == DropBehavior.DROP_CASCADE:
            self._unknown(
                statement, "CASCADE also drops what depends on it, maybe columns with data"
            )
        else:
            self.result.losses.extend(DataLoss(kind, _object_name(obj), 0) for obj in objects)

    def _alter_table(self, statement: Statement, node: ast.AlterTableStmt) -> None:
        parts = _relation_parts(node.relation)
        table = ".".join(parts)
        for cmd in node.cmds or ():
            subtype = cmd.subtype
            if subtype == AlterTableType.AT_DropColumn and cmd.name:
                query = sql.SQL("SELECT count(*) FROM {} WHERE {} IS NOT NULL").format(
                    sql.Identifier(*parts), sql.Identifier(cmd.name)
                )
                missing_ok = bool(cmd.missing_ok or node.missing_ok)
                self._counted(statement, "column", f"{table}.{cmd.name}", query, missing_ok)
            elif subtype == AlterTableType.AT_DropConstraint:
                self.result.losses.append(DataLoss("constraint", f"{table}.{cmd.name}", 0))
            elif subtype not in _SAFE_ALTER_TABLE:
                name = subtype.name.removeprefix("AT_") if subtype is not None else "?"
                self._unknown(statement, f"ALTER TABLE {table} {name} may change existing data")

    def _truncate(self, statement: Statement, node: ast.TruncateStmt) -> None:
        for relation in node.relations or ():
            parts = _relation_parts(relation)
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*parts))
            self._counted(statement, "rows", ".".join(parts), query, missing_ok=False)
        if node.behavior == DropBehavior.DROP_CASCADE:
            self._unknown(
                statement, "TRUNCATE ... CASCADE also empties the tables referencing these"
            )

    def _delete(self, statement: Statement, node: ast.DeleteStmt) -> None:
        if node.usingClause or node.withClause:
            self._unknown(
                statement, "a DELETE with USING or WITH: its rows cannot be counted alone"
            )
            return
        parts = _relation_parts(node.relation)
        table = sql.Identifier(*parts)
        target = ".".join(parts)
        query = sql.SQL("SELECT count(*) FROM {}").format(table)
        if node.whereClause is not None:
            condition = RawStream()(node.whereClause)
            target = f"{target} WHERE {condition}"
            # The condition is the migration's own, re-printed by the parser, and it runs in a
            # READ ONLY transaction: it can count, never change anything.
            query = sql.SQL("SELECT count(*) FROM {} WHERE ").format(table) + sql.SQL(condition)
        self._counted(statement, "rows", target, query, missing_ok=False)

    def _counted(
        self, statement: Statement, kind: str, target: str, query: sql.Composed, missing_ok: bool
    ) -> None:
        try:
            rows = _count(self.connection, query)
        except _CannotCount as cannot:
            if not (cannot.missing and missing_ok):  # IF EXISTS, and it does not: nothing lost
                self._unknown(statement, f"{target}: {cannot.reason}")
            return
        self.result.losses.append(DataLoss(kind, target, rows))

    def _unknown(self, statement: Statement, reason: str) -> None:
        self.result.unclassified.append(Unclassified(statement.sql, reason))


def _count(connection: Connection, query: sql.Composed) -> int:
    try:
        with connection.transaction():
            row = connection.execute(query).fetchone()
    except _MISSING:
        raise _CannotCount("does not exist now, so the step would fail", missing=True) from None
    except psycopg.OperationalError as error:
        if error.sqlstate is None:
            raise UnavailableError(f"lost the database while counting rows: {error}") from None
        raise _CannotCount(f"could not count: {_first_line(error)}", missing=False) from None
    except psycopg.Error as error:
        raise _CannotCount(f"could not count: {_first_line(error)}", missing=False) from None
    count = row[0] if row else 0
    return count if isinstance(count, int) else 0


def _touches_only(node: ast.Node, tables: Collection[str]) -> bool:
    """Whether the statement targets only the given tables (a tool's bookkeeping)."""
    if not tables:
        return False
    relation = getattr(node, "relation", None)
    if isinstance(relation, ast.RangeVar):
        return relation.relname in tables
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
        return all(_name_parts(obj)[-1] in tables for obj in node.objects or ())
    return False


def _overwrites(node: ast.InsertStmt) -> bool:
    clause = node.onConflictClause
    return clause is not None and clause.action == OnConflictAction.ONCONFLICT_UPDATE


def _why_unknown(node: ast.Node) -> str:
    if isinstance(node, ast.UpdateStmt):
        return f"UPDATE of {'.'.join(_relation_parts(node.relation))} changes existing values"
    if isinstance(node, ast.InsertStmt):
        return "INSERT ... ON CONFLICT DO UPDATE changes existing values"
    if isinstance(node, ast.SelectStmt):
        return "a SELECT may call functions that change data"
    if isinstance(node, ast.TransactionStmt):
        return "transaction control inside a step"
    return f"{type(node).__name__} is not known to keep data"


def _relation_parts(relation: ast.RangeVar | None) -> list[str]:
    if relation is None or not relation.relname:
        return ["?"]
    return [part for part in (relation.schemaname, relation.relname) if part]


def _name_parts(obj: Any) -> list[str]:
    if isinstance(obj, tuple | list):
        return [str(part.sval) for part in obj if isinstance(part, ast.String)]
    return [_object_name(obj)]


def _object_name(obj: Any) -> str:
    if isinstance(obj, ast.ObjectWithArgs):
        return ".".join(_name_parts(obj.objname or ()))
    if isinstance(obj, ast.TypeName):
        return ".".join(_name_parts(obj.names or ()))
    if isinstance(obj, tuple | list):
        return ".".join(_name_parts(obj))
    return str(getattr(obj, "sval", obj))


def _object_type_name(kind: ObjectType | None) -> str:
    return kind.name.removeprefix("OBJECT_").lower().replace("_", " ") if kind else "?"


def _first_line(error: psycopg.Error) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
