"""What a point-in-time restore threw away: the rows of the pre-restore state missing after it.

`lost_writes(before, after, ...)` compares each table by primary key and writes, in `out_dir`:

- `<table>.missing.csv`: rows of `before` whose key `after` does not have; `<table>.changed.csv`:
  rows whose key both have but whose content differs (updates made after the restore target), in
  their pre-restore version. CSV with a header, PostgreSQL's text form of every value, NULL as an
  unquoted empty field: `COPY t FROM '<file>' (FORMAT csv, HEADER)` loads it. Generated columns
  are left out (they are computed again); a file exists only when it has rows.
- `replay.sql`: one transaction re-inserting the missing rows, `INSERT ... ON CONFLICT DO
  NOTHING`, tables in foreign-key order, parents first, then each serial/identity sequence moved
  past the largest replayed value. Tables in a foreign-key cycle come in name order, and a row
  referring to a row of its own table needs it in the same or an earlier INSERT (rows go in key
  order, 500 per INSERT); where that fails, the whole replay rolls back. Changed rows are not
  replayed: which version wins is for the team to decide. Run it with `psql -f replay.sql`.
- `summary.json`, written last: per table the counts and file names, and the tables not compared
  (no primary key, or a different one in the restored database). A folder without it is the
  remains of an interrupted run; a complete report is never overwritten.

Each file is written atomically. Tables are streamed: `before` through a server-side cursor in
key order, and for each batch of its rows `after` is read in the same key range (keyset
bounds), so memory holds one batch. Both sides are read in one READ ONLY snapshot each, with
the same session settings, and compared by their text form; key ranges assume both databases
sort text the same way (true of a restore of the same cluster).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg import sql

from backout.atomic import AtomicFile, write_text_atomic
from backout.db.connection import Connection, Database
from backout.db.integrity import TableRef, database_error, resolve_table, user_tables
from backout.db.table_copy import set_copy_session
from backout.errors import RefusedError, StepFailedError

BATCH_ROWS = 5000
REPLAY_ROWS_PER_INSERT = 500
SUMMARY = "summary.json"
REPLAY = "replay.sql"
NO_PRIMARY_KEY = "no primary key"

_PRIMARY_KEY = (
    "SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(num, ord),"
    " pg_attribute a WHERE i.indrelid = %s AND i.indisprimary"
    " AND a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.ord"
)
_COLUMNS = (
    "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0"
    " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
)
_SEQUENCE_COLUMNS = (
    "SELECT a.attname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
    " JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
    " WHERE d.classid = 'pg_class'::regclass AND d.refobjid = %s AND d.deptype IN ('a', 'i')"
)
_FOREIGN_KEY_EDGES = "SELECT conrelid, confrelid FROM pg_constraint WHERE contype = 'f'"


@dataclass(frozen=True)
class TableLostWrites:
    table: str
    missing_rows: int
    changed_rows: int
    missing_file: str | None  # file names inside the report folder
    changed_file: str | None
    columns_not_in_after: tuple[str, ...] = ()  # in the CSV, left out of replay.sql


@dataclass(frozen=True)
class LostWritesReport:
    path: Path  # the report folder
    tables: tuple[TableLostWrites, ...]
    not_compared: dict[str, str] = field(default_factory=dict)  # table → why

    @property
    def missing_rows(self) -> int:
        return sum(t.missing_rows for t in self.tables)

    @property
    def changed_rows(self) -> int:
        return sum(t.changed_rows for t in self.tables)

    @property
    def total_rows(self) -> int:
        return self.missing_rows + self.changed_rows

    @property
    def replay_path(self) -> Path:
        return self.path / REPLAY

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "total_rows": self.total_rows,
            "missing_rows": self.missing_rows,
            "changed_rows": self.changed_rows,
            "replay": REPLAY,
            "tables": {t.table: _without(asdict(t), "table") for t in self.tables},
            "not_compared": dict(self.not_compared),
        }

    def lines(self) -> list[str]:
        lines = [
            f"lost writes: {self.total_rows} row(s), {self.missing_rows} missing and "
            f"{self.changed_rows} changed, in {self.path}"
        ]
        lines += [
            f"  {t.table}: {t.missing_rows} missing, {t.changed_rows} changed"
            for t in self.tables
            if t.missing_rows or t.changed_rows
        ]
        lines += [f"  {table}: not compared ({why})" for table, why in self.not_compared.items()]
        if self.missing_rows:
            lines.append(f"replay the missing rows with: psql -f {self.replay_path}")
        return lines


@dataclass(frozen=True)
class _Plan:
    """How one table is compared: its key, its columns, what replay.sql may write."""

    table: TableRef
    key: tuple[str, ...]
    columns: tuple[str, ...]  # before's columns, key ones included, generated ones not
    in_after: frozenset[str] | None  # after's columns; None when after lacks the table
    sequence_columns: tuple[str, ...]

    @property
    def replay_columns(self) -> tuple[str, ...]:
        """The columns both databases have: all replay.sql can write."""
        return tuple(c for c in self.columns if self.in_after is not None and c in self.in_after)

    @property
    def key_positions(self) -> tuple[int, ...]:
        return tuple(self.columns.index(c) for c in self.key)


TextRow = tuple[str | None, ...]


def lost_writes(
    before: Database,
    after: Database,
    *,
    tables: Sequence[str] | None = None,
    out_dir: Path,
) -> LostWritesReport:
    """Export the rows of `before` that `after` lost or changed, per table, into `out_dir`."""
    if (out_dir / SUMMARY).exists():
        raise RefusedError(
            f"a lost-writes report already exists in {out_dir}",
            hint="it may be the only copy of those rows: choose another folder",
        )
    at, action = before, "reading the pre-restore state"
    try:
        with before.connect() as old:
            _begin_snapshot(old)
            at, action = after, "reading the restored state"
            with after.connect() as new:
                _begin_snapshot(new)
                at, action = before, f"comparing it with {after.name!r}"
                plans, not_compared = _plans(old, new, tables)
                compared = _compare_all(old, new, plans, out_dir)
        report = LostWritesReport(out_dir, compared, not_compared)
        write_text_atomic(report.summary_path, json.dumps(report.as_dict(), indent=2) + "\n")
    except psycopg.Error as error:
        raise database_error(at, error, action=f"the lost-writes report ({action})") from None
    except OSError as error:
        raise StepFailedError(f"could not write the lost-writes report: {error}") from None
    return report


def _begin_snapshot(conn: Connection) -> None:
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    set_copy_session(conn)  # the text form of values must not depend on either server


def _plans(
    old: Connection, new: Connection, names: Sequence[str] | None
) -> tuple[list[_Plan], dict[str, str]]:
    """The tables to compare, parents before children, and those that cannot be, with why."""
    available = user_tables(old)
    chosen = available if names is None else [resolve_table(available, n) for n in names]
    chosen = list({t.key: t for t in chosen}.values())
    after_tables = {t.key: t for t in user_tables(new)}
    plans, not_compared = [], {}
    for table in chosen:
        plan = _plan(old, new, table, after_tables.get(table.key))
        if isinstance(plan, str):
            not_compared[table.key] = plan
        else:
            plans.append(plan)
    return _parents_first(old, plans), not_compared


def _plan(old: Connection, new: Connection, table: TableRef, twin: TableRef | None) -> _Plan | str:
    """How to compare `table` with its `twin` in the restored database, or why it cannot be."""
    key = tuple(_strings(old, _PRIMARY_KEY, table.oid))
    columns = tuple(_strings(old, _COLUMNS, table.oid))
    twin_key = tuple(_strings(new, _PRIMARY_KEY, twin.oid)) if twin else key
    if not key:
        return NO_PRIMARY_KEY
    if twin_key != key:
        theirs = ", ".join(twin_key) or "none"
        return f"primary key ({', '.join(key)}) is ({theirs}) in the restored database"
    if not set(key) <= set(columns):
        return "primary key uses a generated column"
    in_after = frozenset(_strings(new, _COLUMNS, twin.oid)) if twin else None
    sequences = tuple(_strings(old, _SEQUENCE_COLUMNS, table.oid))
    return _Plan(table, key, columns, in_after, sequences)


def _strings(conn: Connection, query: str, oid: int) -> list[str]:
    return [str(row[0]) for row in conn.execute(query, [oid])]


def _parents_first(conn: Connection, plans: list[_Plan]) -> list[_Plan]:
    """Order plans so a referenced table comes before its referrers; a cycle in name order."""
    by_oid = {p.table.oid: p for p in plans}
    parents: dict[int, set[int]] = {oid: set() for oid in by_oid}
    for child, parent in conn.execute(_FOREIGN_KEY_EDGES):
        child_oid, parent_oid = int(str(child)), int(str(parent))
        if child_oid in by_oid and parent_oid in by_oid and child_oid != parent_oid:
            parents[child_oid].add(parent_oid)
    ordered: list[_Plan] = []
    waiting = sorted(plans, key=lambda p: p.table.key)
    while waiting:
        placed = {p.table.oid for p in ordered}
        ready = [p for p in waiting if parents[p.table.oid] <= placed] or waiting[:1]
        ordered.append(ready[0])
        waiting.remove(ready[0])
    return ordered


def _compare_all(
    old: Connection, new: Connection, plans: list[_Plan], out_dir: Path
) -> tuple[TableLostWrites, ...]:
    results = []
    with AtomicFile(out_dir / REPLAY) as replay:
        replay.write(_REPLAY_HEADER)
        for plan in plans:
            results.append(_compare_table(old, new, plan, out_dir, replay))
        replay.write("COMMIT;\n")
    return tuple(results)


_REPLAY_HEADER = """\
-- backout lost-writes report: re-inserts the rows of the pre-restore database that the
-- restored one lacks. Rows whose key exists are skipped; changed rows are not replayed (see
-- the *.changed.csv files). Tables come in foreign-key order, parents first.
SET client_encoding TO 'UTF8';
SET standard_conforming_strings TO on;
BEGIN;
"""


def _compare_table(
    old: Connection, new: Connection, plan: _Plan, out_dir: Path, replay: AtomicFile
) -> TableLostWrites:
    stem = _file_stem(plan.table.key)
    missing_csv = _CsvFile(out_dir / f"{stem}.missing.csv", plan.columns)
    changed_csv = _CsvFile(out_dir / f"{stem}.changed.csv", plan.columns)
    inserts = _ReplayWriter(old, plan, replay)
    table_diff = _TableDiff(plan)
    with missing_csv, changed_csv:
        for batch in table_diff.batches(old):
            missing, changed = table_diff.diff(new, batch)
            missing_csv.write_rows(missing)
            changed_csv.write_rows(changed)
            inserts.add(missing)
        inserts.finish()
    return TableLostWrites(
        plan.table.key,
        missing_csv.rows,
        changed_csv.rows,
        missing_csv.name,
        changed_csv.name,
        tuple(c for c in plan.columns if c not in plan.replay_columns),
    )


def _select_text(plan: _Plan, columns: Iterable[str]) -> sql.Composed:
    """Columns as text from the table aliased `src`: `src.col` in ORDER BY means the column,
    where a bare `col` would mean the text output column of that name."""
    return sql.SQL("SELECT {} FROM {} AS src").format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(_source(c)) for c in columns),
        plan.table.identifier,
    )


def _source(column: str) -> sql.Identifier:
    return sql.Identifier("src", column)


class _TableDiff:
    """One table compared a batch at a time; its queries and column positions worked out once.

    Rows are tuples of PostgreSQL's text form of each value, so equality means same content.
    """

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        compared = plan.replay_columns
        self._key = plan.key_positions
        self._compared = [plan.columns.index(c) for c in compared]
        self._key_after = [compared.index(c) for c in plan.key if c in compared]
        key = sql.SQL(", ").join(_source(c) for c in plan.key)
        bounds = sql.SQL(", ").join(sql.Placeholder() for _ in plan.key)
        self._all_before = sql.SQL("{} ORDER BY {}").format(_select_text(plan, plan.columns), key)
        in_range = sql.SQL("{select} WHERE ({key}) >= ({bounds}) AND ({key}) <= ({bounds})")
        self._range_after = in_range.format(
            select=_select_text(plan, compared), key=key, bounds=bounds
        )

    def batches(self, old: Connection) -> Iterator[list[TextRow]]:
        """`before`'s rows in key order, a batch at a time, through a server-side cursor."""
        with old.cursor(name="backout_lost_writes_before") as cursor:
            cursor.itersize = BATCH_ROWS
            cursor.execute(self._all_before)
            while batch := cursor.fetchmany(BATCH_ROWS):
                yield cast("list[TextRow]", batch)

    def diff(self, new: Connection, batch: list[TextRow]) -> tuple[list[TextRow], list[TextRow]]:
        """The rows of `batch` that `after` lacks, and those it has with other content."""
        if self.plan.in_after is None:
            return batch, []
        pending = {tuple(row[i] for i in self._key): row for row in batch}
        changed = []
        for row in self._after_range(new, batch[0], batch[-1]):
            mine = pending.pop(tuple(row[i] for i in self._key_after), None)
            if mine is not None and tuple(mine[i] for i in self._compared) != row:
                changed.append(mine)
        return list(pending.values()), changed

    def _after_range(self, new: Connection, first: TextRow, last: TextRow) -> Iterator[TextRow]:
        """`after`'s rows whose key lies between the batch's first and last (keyset bounds)."""
        params = [first[i] for i in self._key] + [last[i] for i in self._key]
        with new.cursor(name="backout_lost_writes_after") as cursor:
            cursor.itersize = BATCH_ROWS
            cursor.execute(self._range_after, params)
            while rows := cursor.fetchmany(BATCH_ROWS):
                yield from cast("list[TextRow]", rows)


class _ReplayWriter:
    """INSERT statements of one table's missing rows, REPLAY_ROWS_PER_INSERT rows each."""

    def __init__(self, conn: Connection, plan: _Plan, out: AtomicFile) -> None:
        self._conn, self._plan, self._out = conn, plan, out
        self._indexes = [plan.columns.index(c) for c in plan.replay_columns]
        self._values: list[str] = []
        self.rows = 0

    def add(self, rows: list[TextRow]) -> None:
        if self._plan.in_after is None:
            self.rows += len(rows)
            return
        for row in rows:
            self._values.append(f"({', '.join(_literal(row[i]) for i in self._indexes)})")
            self.rows += 1
            if len(self._values) == REPLAY_ROWS_PER_INSERT:
                self._flush()

    def finish(self) -> None:
        self._flush()
        if self.rows and self._plan.in_after is None:
            self._out.write(
                f"-- {self._plan.table.key!r}: not in the restored database; not replayed\n"
            )
        elif self.rows:
            for column in self._plan.sequence_columns:
                if column in self._plan.replay_columns:
                    self._out.write(_advance_sequence(self._plan.table, column, self._conn))

    def _flush(self) -> None:
        if not self._values:
            return
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in self._plan.replay_columns)
        head = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES").format(
            self._plan.table.identifier, columns
        )
        values = ",\n  ".join(self._values)
        self._out.write(f"{head.as_string(self._conn)}\n  {values}\nON CONFLICT DO NOTHING;\n")
        self._values = []


def _advance_sequence(table: TableRef, column: str, conn: Connection) -> str:
    """A statement moving the column's sequence past the replayed values, never backwards."""
    statement = sql.SQL(
        "SELECT setval(seq, top::bigint) FROM (SELECT pg_get_serial_sequence({name}, {column})"
        "::regclass AS seq, (SELECT max({col}) FROM {table}) AS top) s"
        " WHERE top > coalesce(pg_sequence_last_value(seq), 0);\n"
    ).format(
        name=sql.Literal(table.identifier.as_string(conn)),
        column=sql.Literal(column),
        col=sql.Identifier(column),
        table=table.identifier,
    )
    return statement.as_string(conn)


def _without(fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items() if k != name}


def _file_stem(table: str) -> str:
    """A portable file name for a table; odd names get a hash so two never share a file."""
    safe = re.sub(r"[^a-z0-9_.-]", "_", table)  # capitals too: some file systems ignore case
    if safe == table and not table.startswith("."):
        return table
    return f"{safe.lstrip('.')}-{hashlib.sha256(table.encode()).hexdigest()[:8]}"


def _literal(value: str | None) -> str:
    """A SQL string literal of PostgreSQL's text form of a value; the column's type reads it.
    Exact only under standard_conforming_strings, which replay.sql sets (a backslash is then
    an ordinary character); sql.Literal was 4x slower on a few thousand rows per second."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _csv_line(values: Iterable[str | None]) -> str:
    """One line as COPY's CSV format reads it: NULL unquoted and empty, every value quoted."""
    return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n"


class _CsvFile(AtomicFile):
    """A COPY-compatible CSV file: a header, then rows; with no rows, no file."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        super().__init__(path)
        self._header = _csv_line(columns)
        self.rows = 0

    @property
    def name(self) -> str | None:
        return self.path.name if self.rows else None

    def write_rows(self, rows: list[TextRow]) -> None:
        if not rows:
            return
        if not self.rows:
            self.write(self._header)
        self.write("".join(_csv_line(row) for row in rows))
        self.rows += len(rows)
