"""The integrity report of `backout db verify`: row counts, constraints, assertions, recent writes.

Everything runs in one READ ONLY, REPEATABLE READ transaction, so the report is one consistent
snapshot and cannot change the data, even if a user assertion tries to.

Cost: exact row counts are `count(*)`, which scans each table (seconds per few million rows);
`estimate=True` reads `pg_class.reltuples` instead (as fresh as the last VACUUM/ANALYZE; a table
never analysed is still counted exactly). Each foreign key is checked with one anti-join of the
child against the parent, also a scan of the child table.

Tables are named `schema.table`, unquoted (`public.bookings`): the keys of `reference_counts`,
of `row_counts()`, and of the report. Config may name a table without its schema when the name
is unique across user schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from backout.config import IntegritySettings
from backout.db.connection import Connection, Database
from backout.errors import BackoutError, CheckError, NotFoundError, RefusedError, UnavailableError

LOCK_TIMEOUT = "30s"
USER_SCHEMA = sql.SQL(
    "{n}.nspname NOT IN ('pg_catalog', 'information_schema') AND {n}.nspname !~ '^pg_(toast|temp_)'"
)

_USER_TABLES = sql.SQL(
    "SELECT c.oid, n.nspname, c.relname FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {user_schema}"
    " ORDER BY n.nspname, c.relname"
).format(user_schema=USER_SCHEMA.format(n=sql.Identifier("n")))

# reltuples per table; a partitioned table sums its leaves; -1 when never analysed.
_ESTIMATES = """
SELECT c.oid, CASE WHEN c.relkind = 'p' THEN (
    SELECT coalesce(CASE WHEN bool_or(l.reltuples < 0) THEN -1 ELSE sum(l.reltuples) END, 0)
    FROM pg_partition_tree(c.oid) t JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf)
  ELSE c.reltuples END
FROM pg_class c WHERE c.oid = ANY(%s)
"""

_NOT_VALID = sql.SQL(
    "SELECT con.conname, n.nspname, coalesce(c.relname, t.typname), c.oid IS NULL"
    " FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace"
    " LEFT JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_type t ON t.oid = con.contypid"
    " WHERE NOT con.convalidated AND con.conparentid = 0 AND {user_schema}"
    " ORDER BY 2, 3, 1"
).format(user_schema=USER_SCHEMA.format(n=sql.Identifier("n")))

_FOREIGN_KEYS = sql.SQL(
    "SELECT con.conname, cn.nspname, c.relname, pn.nspname, p.relname, con.confmatchtype,"
    " array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, i)"
    "   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.i),"
    " array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, i)"
    "   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.i)"
    " FROM pg_constraint con"
    " JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace"
    " JOIN pg_class p ON p.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace"
    " WHERE con.contype = 'f' AND con.conparentid = 0 AND {user_schema}"
    " ORDER BY 2, 3, 1"
).format(user_schema=USER_SCHEMA.format(n=sql.Identifier("cn")))


@dataclass(frozen=True)
class TableRef:
    """A user table as the catalog names it."""

    oid: int
    schema: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)


def user_tables(conn: Connection) -> list[TableRef]:
    """Ordinary and partitioned tables of the user schemas; partitions count in their parent."""
    return [TableRef(int(str(oid)), str(s), str(n)) for oid, s, n in conn.execute(_USER_TABLES)]


def resolve_table(tables: list[TableRef], name: str) -> TableRef:
    """The table named `schema.table`, or `table` alone when unique; NotFoundError otherwise."""
    for table in tables:
        if table.key == name:
            return table
    matches = [table for table in tables if table.name == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise RefusedError(
            f"table name {name!r} is ambiguous",
            hint=f"name it with its schema: {', '.join(t.key for t in matches)}",
        )
    known = ", ".join(t.key for t in tables[:20]) or "(none)"
    raise NotFoundError(f"unknown table {name!r}", hint=f"user tables: {known}")


def database_error(database: Database, error: psycopg.Error, *, action: str) -> BackoutError:
    """A psycopg error met while `action`-ing, as the backout error the CLI can print."""
    message = f"{action} on database {database.name!r} failed: {_first_line(error)}"
    if isinstance(error, psycopg.OperationalError):
        return UnavailableError(message, hint="check that the server is up and reachable")
    return CheckError(message)


@dataclass(frozen=True)
class TableCount:
    table: str
    rows: int | None  # None: in the reference, no longer in the database
    reference: int | None = None
    estimated: bool = False

    @property
    def difference(self) -> int | None:
        if self.rows is None or self.reference is None:
            return None
        return self.rows - self.reference


@dataclass(frozen=True)
class ForeignKeyCheck:
    constraint: str
    table: str
    references: str
    orphans: int  # child rows whose parent row does not exist


@dataclass(frozen=True)
class AssertionResult:
    name: str
    passed: bool
    error: str | None = None  # set when the assertion could not run or returned no boolean


@dataclass(frozen=True)
class RecentWrite:
    table: str
    column: str
    newest: object = None  # None when the table is empty
    error: str | None = None


@dataclass(frozen=True)
class IntegrityReport:
    database: str
    tables: tuple[TableCount, ...]
    not_valid: tuple[str, ...]  # constraints left NOT VALID, described
    foreign_keys: tuple[ForeignKeyCheck, ...]
    assertions: tuple[AssertionResult, ...]
    recent: tuple[RecentWrite, ...]

    @property
    def problems(self) -> list[str]:
        """One sentence per problem; row count differences are facts, not problems."""
        found = [
            f"{c} is NOT VALID: rows it should cover were never checked" for c in self.not_valid
        ]
        found += [
            f"foreign key {fk.constraint}: {fk.orphans} row(s) of {fk.table} "
            f"have no parent in {fk.references}"
            for fk in self.foreign_keys
            if fk.orphans
        ]
        for check in self.assertions:
            if check.error is not None:
                found.append(f"assertion {check.name!r} could not run: {check.error}")
            elif not check.passed:
                found.append(f"assertion {check.name!r} failed (returned false)")
        found += [
            f"newest {r.column} of {r.table} could not be read: {r.error}"
            for r in self.recent
            if r.error is not None
        ]
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def missing_tables(self) -> list[str]:
        """Tables of the reference that the database no longer has."""
        return [t.table for t in self.tables if t.rows is None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "ok": self.ok,
            "problems": self.problems,
            "tables": [
                {
                    "table": t.table,
                    "rows": t.rows,
                    "reference": t.reference,
                    "difference": t.difference,
                    "estimated": t.estimated,
                }
                for t in self.tables
            ],
            "not_valid": list(self.not_valid),
            "foreign_keys": [vars(fk) for fk in self.foreign_keys],
            "assertions": [vars(a) for a in self.assertions],
            "recent": [
                {"table": r.table, "column": r.column, "newest": _json_value(r.newest)}
                | ({"error": r.error} if r.error else {})
                for r in self.recent
            ],
        }

    def lines(self) -> list[str]:
        """The report as a human reads it: a table of counts, then each check."""
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines = [f"integrity of {self.database}: {verdict}", *_count_table(self.tables)]
        holding = sum(1 for fk in self.foreign_keys if not fk.orphans)
        lines.append(
            f"constraints: {len(self.not_valid)} NOT VALID; "
            f"{holding} of {len(self.foreign_keys)} foreign key(s) hold"
        )
        for check in self.assertions:
            state = "passed" if check.passed else "ERROR " if check.error else "FAILED"
            lines.append(f"assertion {state}  {check.name}")
        for r in self.recent:
            newest = "(no rows)" if r.newest is None else _json_value(r.newest)
            lines.append(f"newest {r.table}.{r.column}: {r.error or newest}")
        lines += [f"  - {problem}" for problem in self.problems]
        return lines


def verify(
    database: Database,
    settings: IntegritySettings,
    *,
    reference_counts: Mapping[str, int] | None = None,
    estimate: bool = False,
) -> IntegrityReport:
    """Check `database` read-only; `reference_counts` are the counts recorded with a backup."""
    try:
        with database.connect() as conn:
            _begin_read_only(conn)
            tables = user_tables(conn)
            return IntegrityReport(
                database=database.name,
                tables=_counts(conn, tables, reference_counts or {}, estimate=estimate),
                not_valid=_not_valid(conn),
                foreign_keys=_foreign_keys(conn),
                assertions=tuple(_run_assertion(conn, a.name, a.sql) for a in settings.assertions),
                recent=tuple(
                    _newest(conn, tables, table, column)
                    for table, column in settings.recent.items()
                ),
            )
    except psycopg.Error as error:
        raise database_error(database, error, action="the integrity check") from None


def row_counts(database: Database, *, estimate: bool = False) -> dict[str, int]:
    """The rows of each user table now: what a backup records as the next verify's reference."""
    try:
        with database.connect() as conn:
            _begin_read_only(conn)
            counts = _counts(conn, user_tables(conn), {}, estimate=estimate)
    except psycopg.Error as error:
        raise database_error(database, error, action="counting rows") from None
    return {c.table: c.rows for c in counts if c.rows is not None}


def _begin_read_only(conn: Connection) -> None:
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    # Behind a migration's exclusive lock, fail (retryable) rather than wait without end.
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))


def _counts(
    conn: Connection,
    tables: list[TableRef],
    reference: Mapping[str, int],
    *,
    estimate: bool,
) -> tuple[TableCount, ...]:
    estimates: dict[int, float] = {}
    if estimate:
        oids = [t.oid for t in tables]
        estimates = {int(str(o)): float(str(e)) for o, e in conn.execute(_ESTIMATES, [oids])}
    counts = []
    for table in tables:
        guess = estimates.get(table.oid, -1.0)
        rows = round(guess) if guess >= 0 else _count(conn, table)
        counts.append(TableCount(table.key, rows, reference.get(table.key), guess >= 0))
    present = {t.key for t in tables}
    gone = [TableCount(key, None, rows) for key, rows in reference.items() if key not in present]
    return (*counts, *sorted(gone, key=lambda c: c.table))


def _count(conn: Connection, table: TableRef) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(table.identifier)
    row = conn.execute(query).fetchone()
    return int(str(row[0])) if row else 0


def _not_valid(conn: Connection) -> tuple[str, ...]:
    return tuple(
        f"constraint {name} on {'domain' if on_domain else 'table'} {schema}.{owner}"
        for name, schema, owner, on_domain in conn.execute(_NOT_VALID)
    )


def _foreign_keys(conn: Connection) -> tuple[ForeignKeyCheck, ...]:
    checks = []
    for name, cs, ct, ps, pt, match, child_cols, parent_cols in conn.execute(_FOREIGN_KEYS):
        child, parent = sql.Identifier(str(cs), str(ct)), sql.Identifier(str(ps), str(pt))
        query = _orphans_query(child, parent, _names(child_cols), _names(parent_cols), match == "f")
        row = conn.execute(query).fetchone()
        orphans = int(str(row[0])) if row else 0
        checks.append(ForeignKeyCheck(str(name), f"{cs}.{ct}", f"{ps}.{pt}", orphans))
    return tuple(checks)


def _orphans_query(
    child: sql.Identifier,
    parent: sql.Identifier,
    child_cols: list[str],
    parent_cols: list[str],
    match_full: bool,
) -> sql.Composed:
    """Child rows the key rejects: a full key without parent; under MATCH FULL, a partial key."""
    c_cols = [sql.Identifier("c", col) for col in child_cols]
    joined = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier("p", p), c)
        for p, c in zip(parent_cols, c_cols, strict=True)
    )
    all_set = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(c) for c in c_cols)
    orphan = sql.SQL("({all_set} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {joined}))").format(
        all_set=all_set, parent=parent, joined=joined
    )
    if match_full and len(c_cols) > 1:
        some_null = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(c) for c in c_cols)
        orphan = sql.SQL("{} OR (({}) AND NOT ({}))").format(orphan, some_null, _all_null(c_cols))
    return sql.SQL("SELECT count(*) FROM {child} c WHERE {orphan}").format(
        child=child, orphan=orphan
    )


def _all_null(columns: list[sql.Identifier]) -> sql.Composed:
    return sql.SQL(" AND ").join(sql.SQL("{} IS NULL").format(c) for c in columns)


def _run_assertion(conn: Connection, name: str, query: str) -> AssertionResult:
    """Run one user query in a savepoint, so an error leaves the other checks running."""
    try:
        with conn.transaction():
            row = conn.execute(sql.SQL(query)).fetchone()
    except psycopg.Error as error:
        if conn.broken:
            raise
        return AssertionResult(name, passed=False, error=_first_line(error))
    if row is None or len(row) != 1 or not isinstance(row[0], bool):
        got = "no row" if row is None else repr(row[0] if len(row) == 1 else row)
        return AssertionResult(name, passed=False, error=f"expected one boolean, got {got}")
    return AssertionResult(name, passed=row[0])


def _newest(conn: Connection, tables: list[TableRef], name: str, column: str) -> RecentWrite:
    try:
        table = resolve_table(tables, name)
    except BackoutError as error:
        return RecentWrite(name, column, error=error.message)
    query = sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), table.identifier)
    try:
        with conn.transaction():
            row = conn.execute(query).fetchone()
    except psycopg.Error as error:
        if conn.broken:
            raise
        return RecentWrite(table.key, column, error=_first_line(error))
    return RecentWrite(table.key, column, row[0] if row else None)


def _count_table(counts: tuple[TableCount, ...]) -> list[str]:
    rows = [("table", "rows", "reference", "difference")]
    for c in counts:
        shown = "absent" if c.rows is None else f"{'~' if c.estimated else ''}{c.rows:,}"
        reference = "" if c.reference is None else f"{c.reference:,}"
        difference = "" if c.difference is None else f"{c.difference:+,}"
        rows.append((c.table, shown, reference, difference))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join(_align(r, widths)) for r in rows]


def _align(cells: tuple[str, ...], widths: list[int]) -> list[str]:
    """The first cell left-aligned, the numbers right-aligned."""
    return [cells[0].ljust(widths[0])] + [
        v.rjust(w) for v, w in zip(cells[1:], widths[1:], strict=True)
    ]


def _names(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _first_line(error: psycopg.Error) -> str:
    text = error.diag.message_primary or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
