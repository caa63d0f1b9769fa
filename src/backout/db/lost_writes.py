"""What a restore threw away: every write after its target, per table, by primary key.

`lost_writes(before, after, ...)` compares each table of `before` (the data as it was before the
restore: the live database, or the one an in-place restore kept aside) with the restored copy
`after`, by primary key, and writes in `out_dir`:

- `<table>.inserted.csv`: rows `before` has and `after` lacks (inserted after the target);
  `<table>.updated.csv`: rows both have with other content (updated after the target), in their
  pre-restore version; `<table>.deleted.csv`: rows `after` has and `before` lacks (deleted after
  the target: a DELETE, its cascades, a TRUNCATE), as the restored copy holds them, in the
  columns both databases have. CSV with a header, PostgreSQL's text form of every value, NULL as
  an unquoted empty field: `COPY t FROM '<file>' (FORMAT csv, HEADER)` loads it. Generated
  columns are left out (they are computed again); a file exists only when it has rows.
- `replay.sql` (lost_writes_replay.py): one transaction applying those writes again to the
  restored database — inserts and updates parents first, deletes children first. Run it with
  `psql -v ON_ERROR_STOP=1 -f replay.sql`; where a write no longer fits (a row referring to a
  row of its own table in a later INSERT, a unique value taken since), the whole replay rolls
  back.
- `summary.json`, written last: the counts per kind (`inserted_rows`, `updated_rows`,
  `deleted_rows`) in total and per table with the file names, and the tables not compared (no
  primary key, a different one in the restored database, or only in the restored database).
  A folder without it is the remains of an interrupted run; a complete report is never
  overwritten.

Each file is written atomically. Tables are streamed: `before` through a server-side cursor in
key order, and for each batch of its rows `after` is read over the key range from the end of
the previous batch to the end of this one (keyset bounds; the last range is open), so every row
of `after` is seen once and memory holds one batch. Both sides are read in one READ ONLY
snapshot each, with the same session settings, and compared by their text form; key ranges
assume both databases sort text the same way (true of a restore of the same cluster).
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
from backout.db.lost_writes_replay import Replay, TableReplay, TextRow
from backout.db.table_copy import set_copy_session
from backout.errors import RefusedError, StepFailedError

BATCH_ROWS = 5000
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


KINDS = ("inserted", "updated", "deleted")


@dataclass(frozen=True)
class TableLostWrites:
    table: str
    inserted_rows: int
    updated_rows: int
    deleted_rows: int
    inserted_file: str | None  # file names inside the report folder
    updated_file: str | None
    deleted_file: str | None
    columns_not_in_after: tuple[str, ...] = ()  # in the CSV, left out of replay.sql

    @property
    def total_rows(self) -> int:
        return self.inserted_rows + self.updated_rows + self.deleted_rows


@dataclass(frozen=True)
class LostWritesReport:
    path: Path  # the report folder
    tables: tuple[TableLostWrites, ...]
    not_compared: dict[str, str] = field(default_factory=dict)  # table → why

    @property
    def inserted_rows(self) -> int:
        return sum(t.inserted_rows for t in self.tables)

    @property
    def updated_rows(self) -> int:
        return sum(t.updated_rows for t in self.tables)

    @property
    def deleted_rows(self) -> int:
        return sum(t.deleted_rows for t in self.tables)

    @property
    def total_rows(self) -> int:
        return self.inserted_rows + self.updated_rows + self.deleted_rows

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
            "inserted_rows": self.inserted_rows,
            "updated_rows": self.updated_rows,
            "deleted_rows": self.deleted_rows,
            "replay": REPLAY,
            "tables": {t.table: _without(asdict(t), "table") for t in self.tables},
            "not_compared": dict(self.not_compared),
        }

    def lines(self) -> list[str]:
        lines = [
            f"lost writes: {self.total_rows} row(s) written after the target, "
            f"{_counts(self.inserted_rows, self.updated_rows, self.deleted_rows)}, in {self.path}"
        ]
        lines += [
            f"  {t.table}: {_counts(t.inserted_rows, t.updated_rows, t.deleted_rows)}"
            for t in self.tables
            if t.total_rows
        ]
        lines += [f"  {table}: not compared ({why})" for table, why in self.not_compared.items()]
        if self.total_rows:
            lines.append(f"apply them again with: psql -v ON_ERROR_STOP=1 -f {self.replay_path}")
        return lines


def _counts(inserted: int, updated: int, deleted: int) -> str:
    return f"{inserted} inserted, {updated} updated, {deleted} deleted"


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


def lost_writes(
    before: Database,
    after: Database,
    *,
    tables: Sequence[str] | None = None,
    out_dir: Path,
) -> LostWritesReport:
    """Export every write `before` received that `after` lacks, per table, into `out_dir`."""
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
                not_compared.update(_only_in_after(old, new, tables))
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


def _only_in_after(old: Connection, new: Connection, names: Sequence[str] | None) -> dict[str, str]:
    """Tables the restored copy has and `before` lacks: dropped after the target (or renamed)."""
    if names is not None:
        return {}
    present = {t.key for t in user_tables(old)}
    gone = [t for t in user_tables(new) if t.key not in present]
    why = "only in the restored database: dropped or renamed after the target, its {} row(s) kept"
    return {t.key: why.format(_row_count(new, t)) for t in gone}


def _row_count(conn: Connection, table: TableRef) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table.identifier)).fetchone()
    return int(str(row[0])) if row else 0


def _compare_all(
    old: Connection, new: Connection, plans: list[_Plan], out_dir: Path
) -> tuple[TableLostWrites, ...]:
    with Replay(out_dir / REPLAY) as replay:
        return tuple(
            _compare_table(old, new, plan, out_dir, replay.table(old, plan.table, plan.key))
            for plan in plans
        )


def _compare_table(
    old: Connection, new: Connection, plan: _Plan, out_dir: Path, replay: TableReplay
) -> TableLostWrites:
    stem = _file_stem(plan.table.key)
    files = {
        "inserted": _CsvFile(out_dir / f"{stem}.inserted.csv", plan.columns),
        "updated": _CsvFile(out_dir / f"{stem}.updated.csv", plan.columns),
        "deleted": _CsvFile(out_dir / f"{stem}.deleted.csv", plan.replay_columns),
    }
    writes = _Writes(plan, files, replay)
    with files["inserted"], files["updated"], files["deleted"]:
        _TableDiff(plan).compare(old, new, writes)
        writes.finish()
    inserted, updated, deleted = (files[kind] for kind in KINDS)
    return TableLostWrites(
        plan.table.key,
        inserted_rows=inserted.rows,
        updated_rows=updated.rows,
        deleted_rows=deleted.rows,
        inserted_file=inserted.name,
        updated_file=updated.name,
        deleted_file=deleted.name,
        columns_not_in_after=tuple(c for c in plan.columns if c not in plan.replay_columns),
    )


class _Writes:
    """Where one table's writes go: its three CSV files and its part of replay.sql."""

    def __init__(self, plan: _Plan, files: dict[str, _CsvFile], replay: TableReplay) -> None:
        self._plan, self._files, self._replay = plan, files, replay
        self._replayed = plan.in_after is not None
        self._indexes = [plan.columns.index(c) for c in plan.replay_columns]
        self._key_in_after = [plan.replay_columns.index(c) for c in plan.key if self._replayed]

    def inserted(self, rows: list[TextRow]) -> None:
        self._files["inserted"].write_rows(rows)
        if self._replayed and rows:
            self._replay.insert(self._plan.replay_columns, self._in_after(rows))

    def updated(self, rows: list[TextRow]) -> None:
        self._files["updated"].write_rows(rows)
        if self._replayed and rows:
            self._replay.update(self._plan.replay_columns, self._in_after(rows))

    def deleted(self, rows: list[TextRow]) -> None:
        """Rows of `after`, in the replay columns."""
        self._files["deleted"].write_rows(rows)
        if rows:
            self._replay.delete([tuple(row[i] for i in self._key_in_after) for row in rows])

    def finish(self) -> None:
        if not self._files["inserted"].rows:
            return
        if not self._replayed:
            self._replay.note(
                f"{self._plan.table.key!r}: not in the restored database; not replayed"
            )
            return
        for column in self._plan.sequence_columns:
            if column in self._plan.replay_columns:
                self._replay.advance_sequence(column)

    def _in_after(self, rows: list[TextRow]) -> list[TextRow]:
        return [tuple(row[i] for i in self._indexes) for row in rows]


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
        bound = sql.SQL(", ").join(sql.Placeholder() for _ in plan.key)
        self._all_before = sql.SQL("{} ORDER BY {}").format(_select_text(plan, plan.columns), key)
        select = _select_text(plan, compared)
        above = sql.SQL("({}) > ({})").format(key, bound)
        upto = sql.SQL("({}) <= ({})").format(key, bound)
        # after's rows in (lower, upper]: a missing bound is open
        order = sql.SQL(" ORDER BY {}").format(key)  # deleted rows are listed in key order
        self._ranges = {
            (False, False): select + order,
            (False, True): sql.SQL("{} WHERE {}").format(select, upto) + order,
            (True, False): sql.SQL("{} WHERE {}").format(select, above) + order,
            (True, True): sql.SQL("{} WHERE {} AND {}").format(select, above, upto) + order,
        }

    def compare(self, old: Connection, new: Connection, writes: _Writes) -> None:
        """Every row of both sides seen once: before's in batches, after's over the same keys."""
        lower: tuple[str | None, ...] | None = None
        for batch in self._batches(old):
            upper = tuple(batch[-1][i] for i in self._key)
            self._diff(new, batch, lower, upper, writes)
            lower = upper
        self._diff(new, [], lower, None, writes)  # after's rows past before's last key

    def _batches(self, old: Connection) -> Iterator[list[TextRow]]:
        """`before`'s rows in key order, a batch at a time, through a server-side cursor."""
        with old.cursor(name="backout_lost_writes_before") as cursor:
            cursor.itersize = BATCH_ROWS
            cursor.execute(self._all_before)
            while batch := cursor.fetchmany(BATCH_ROWS):
                yield cast("list[TextRow]", batch)

    def _diff(
        self,
        new: Connection,
        batch: list[TextRow],
        lower: TextRow | None,
        upper: TextRow | None,
        writes: _Writes,
    ) -> None:
        if self.plan.in_after is None:
            writes.inserted(batch)
            return
        pending = {tuple(row[i] for i in self._key): row for row in batch}
        changed, deleted = [], []
        for row in self._after_range(new, lower, upper):
            mine = pending.pop(tuple(row[i] for i in self._key_after), None)
            if mine is None:
                deleted.append(row)
                if len(deleted) >= BATCH_ROWS:
                    writes.deleted(deleted)
                    deleted = []
            elif tuple(mine[i] for i in self._compared) != row:
                changed.append(mine)
        writes.inserted(list(pending.values()))
        writes.updated(changed)
        writes.deleted(deleted)

    def _after_range(
        self, new: Connection, lower: TextRow | None, upper: TextRow | None
    ) -> Iterator[TextRow]:
        """`after`'s rows whose key lies above `lower` and up to `upper` (keyset bounds)."""
        query = self._ranges[(lower is not None, upper is not None)]
        params = [*(lower or ()), *(upper or ())]
        with new.cursor(name="backout_lost_writes_after") as cursor:
            cursor.itersize = BATCH_ROWS
            cursor.execute(query, params or None)
            while rows := cursor.fetchmany(BATCH_ROWS):
                yield from cast("list[TextRow]", rows)


def _without(fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items() if k != name}


def _file_stem(table: str) -> str:
    """A portable file name for a table; odd names get a hash so two never share a file."""
    safe = re.sub(r"[^a-z0-9_.-]", "_", table)  # capitals too: some file systems ignore case
    if safe == table and not table.startswith("."):
        return table
    return f"{safe.lstrip('.')}-{hashlib.sha256(table.encode()).hexdigest()[:8]}"


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
