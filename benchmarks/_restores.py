"""The restore measurements of benchmarks/db_restore.py: PITR through backout against raw
pgBackRest, and one table through `db restore-table` against a whole restore.

Both alternate their two kinds run by run (which one goes first flips each run, so whatever a
restore leaves behind — page cache, writeback — weighs on both alike) and report medians, every
run, and the median seconds of each part of a run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from _pg import (
    WRITES_TABLE,
    Clock,
    archive_current_wal,
    engine_of,
    raw_pitr,
    raw_restore_argv,
    scalar,
)
from _timing import median, median_parts, restore_options, rounded, timed_function, tool_calls

from backout.config import load_config
from backout.db.backup import RestoreTarget
from backout.db.backup.pgbackrest import PgBackRestEngine
from backout.db.cluster import SideCluster
from backout.operations import table_restore
from backout.operations.table_restore import TableRestoreRequest
from backout.runtime import Runtime
from tests.pg import PostgresCluster

TABLE = "pgbench_accounts"
RESTORE_COMMAND = "pgbackrest restore"
# The parts of a table restore that no orchestration can remove while pgBackRest restores whole
# databases: its database's files, the start (WAL replayed to the target), the rows written
# into the live cluster (WAL-logged, as every change of live data must be).
UNAVOIDABLE_PARTS = (RESTORE_COMMAND, "pg_ctl start", "until promoted", "COPY into the live table")
TABLE_RESTORE_PARTS: list[tuple[object, str, str]] = [  # besides the programs run
    (table_restore, "stream_rows", "COPY into the live table"),
    (table_restore, "count_rows", "count(*)"),
    (SideCluster, "_wait_for_promotion", "until promoted"),
    (shutil, "rmtree", "deleting files (shutil.rmtree)"),
]


class Bench:
    """The primary, backout's config of it, the PITR target, and the folder restores go into."""

    def __init__(
        self, pg: PostgresCluster, config_file: Path, folder: Path, database: str = "postgres"
    ) -> None:
        self.pg = pg
        self.database = database
        self.config_file = config_file
        self.config = load_config(config_file)
        self.folder = folder
        self.into = folder / "restored"
        self.target: datetime | None = None
        self.notes: list[str] = []

    @property
    def conninfo(self) -> str:
        """The live database `main` names, where the restored tables land."""
        return self.pg.conninfo(self.database)

    def engine(self) -> PgBackRestEngine:
        """A fresh engine, as each backout command and step builds one."""
        return engine_of(self.config)

    def side(self, target: RestoreTarget, streamed_wal: Path | None = None) -> SideCluster:
        """Restore through backout and start the result (the caller stops it)."""
        self.engine().restore(target, self.into, streamed_wal=streamed_wal)
        return self.start_side()

    def start_side(self) -> SideCluster:
        pg = self.pg
        return SideCluster.start(self.into, pg.bindir, pg.owner, user="postgres", timeout=600)

    def clear(self) -> None:
        shutil.rmtree(self.into, ignore_errors=True)


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def alternating(runs: int, first: str, second: str) -> list[str]:
    """first, second, second, first, first, second, ...: each kind leads every other run."""
    order: list[str] = []
    for run in range(runs):
        order += [first, second] if run % 2 == 0 else [second, first]
    return order


@dataclass
class PitrRuns:
    """Seconds and parts of each run, per kind; what each run restored; the options compared."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: {"backout": [], "raw": []})
    parts: dict[str, list[dict[str, float]]] = field(
        default_factory=lambda: {"backout": [], "raw": []}
    )
    rows: dict[str, set[int]] = field(default_factory=lambda: {"backout": set(), "raw": set()})
    same_options: bool = True
    newest_restorable_s: list[float] = field(default_factory=list)

    def add(self, kind: str, seconds: float, parts: dict[str, float], rows: int) -> None:
        self.seconds[kind].append(seconds)
        self.parts[kind].append(parts)
        self.rows[kind].add(rows)

    def before_restore(self) -> list[float]:
        """Each backout run's seconds before its pgbackrest restore: the checks raw skips."""
        after = (RESTORE_COMMAND, "pg_ctl start", "until promoted")
        return [sum(s for name, s in p.items() if name not in after) for p in self.parts["backout"]]

    def around_restore(self, kind: str) -> list[float]:
        """Each run's seconds outside the (identical) pgbackrest restore command."""
        pairs = zip(self.seconds[kind], self.parts[kind], strict=True)
        return [total - parts[RESTORE_COMMAND] for total, parts in pairs]


def measure_pitr(bench: Bench, runs: int) -> dict[str, Any]:
    """Alternating backout / raw restores to the same moment, with writes going on."""
    time.sleep(1.0)  # the target is not in the backup's last second
    target = bench.target = scalar(bench.conninfo, "SELECT clock_timestamp()")
    time.sleep(1.0)
    archive_current_wal(bench.conninfo)  # the WAL past the target reaches the repository
    engine = bench.engine()
    backup_set = [b for b in engine.backups() if b.finished_at <= target][-1].id
    into = bench.into.absolute()
    raw_argv = raw_restore_argv(engine.config_file, engine.stanza, into, backup_set, target)
    found = PitrRuns()
    for kind in alternating(runs, "backout", "raw"):
        os.sync()  # the previous run's writes and deletions are not this run's to pay for
        started = time.monotonic()
        if kind == "backout":
            side, parts, argv = backout_pitr(bench, target)
            seconds = time.monotonic() - started
            found.add(kind, seconds, parts, check_rows(bench, side.database().conninfo, kind))
            side.stop()
            found.same_options &= restore_options(argv) == restore_options(raw_argv)
            # The db_restore step asks this before it restores: reported apart, not in `seconds`.
            found.newest_restorable_s.append(timed(bench.engine().newest_restorable)[0])
        else:
            raw = raw_pitr(bench.pg, bench.into, raw_argv)
            seconds = time.monotonic() - started
            found.add(kind, seconds, raw.parts, check_rows(bench, raw.server.conninfo(), kind))
            raw.server.stop()
        bench.clear()
    if found.rows["backout"] != found.rows["raw"] or len(found.rows["raw"]) != 1:
        bench.notes.append(f"PITR writer rows restored differ between runs: {found.rows}")
    return pitr_summary(found)


def pitr_summary(found: PitrRuns) -> dict[str, Any]:
    backout, raw = median(found.seconds["backout"]), median(found.seconds["raw"])
    command = median([p[RESTORE_COMMAND] for kind in found.parts for p in found.parts[kind]])
    around_backout = median(found.around_restore("backout"))
    around_raw = median(found.around_restore("raw"))
    pairs = zip(found.seconds["backout"], found.seconds["raw"], strict=True)
    return {
        "pitr_backout_s": backout,
        "pitr_raw_s": raw,
        "pitr_ratio": round(backout / raw, 3),
        "pitr_backout_runs_s": rounded(found.seconds["backout"]),
        "pitr_raw_runs_s": rounded(found.seconds["raw"]),
        "pitr_paired_ratios": rounded([b / r for b, r in pairs]),
        "pitr_backout_parts_s": median_parts(found.parts["backout"]),
        "pitr_raw_parts_s": median_parts(found.parts["raw"]),
        "pitr_same_restore_options": found.same_options,
        "pitr_restore_command_s": command,
        "pitr_around_restore_backout_s": around_backout,
        "pitr_around_restore_raw_s": around_raw,
        "pitr_backout_before_restore_s": median(found.before_restore()),
        "pitr_ratio_at_median_command": round(
            (command + around_backout) / (command + around_raw), 3
        ),
        "step_newest_restorable_s": median(found.newest_restorable_s),
    }


def backout_pitr(bench: Bench, target: datetime) -> tuple[SideCluster, dict[str, float], list[str]]:
    """The db_restore step's restore, in parts; also the pgbackrest restore command it ran."""
    clock = Clock()
    with tool_calls() as restoring:
        bench.engine().restore(RestoreTarget(time=target), bench.into)
    clock.lap("restore")
    with tool_calls() as starting:
        side = bench.start_side()
    clock.lap("start")
    parts = dict(restoring.seconds)
    parts["other work before the restore"] = clock.parts["restore"] - restoring.total
    parts["pg_ctl start"] = starting.seconds.get("pg_ctl start", 0.0)
    parts["until promoted"] = clock.parts["start"] - starting.total
    return side, parts, restoring.argv[RESTORE_COMMAND]


def check_rows(bench: Bench, conninfo: str, how: str) -> int:
    """The writer rows a PITR restored; a note if any was written after the target."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        row = connection.execute(f"SELECT count(*), max(at) FROM {WRITES_TABLE}").fetchone()
    assert row is not None
    assert bench.target is not None
    found, newest = row
    if newest is not None and newest > bench.target:
        bench.notes.append(f"{how} PITR kept a row written at {newest}, after {bench.target}")
    return int(found)


def measure_table_restore(bench: Bench, runs: int, table: str = TABLE) -> dict[str, Any]:
    """`db restore-table` of one table to the PITR target — in-process, timed in parts, and as
    the `backout` program itself — against a whole restore + start to it, in rotating order;
    each copy's WAL archived before the next run."""
    assert bench.target is not None
    target = RestoreTarget(time=bench.target)
    seconds: dict[str, list[float]] = {"table": [], "cli": [], "full": []}
    parts: list[dict[str, float]] = []
    rows: set[int] = set()
    for run, kind in enumerate(rotating(runs, "table", "cli", "full")):
        os.sync()
        if kind == "table":
            run_s, restored_rows, run_parts = restore_one_table(bench, table, f"copy_{run}")
            parts.append(run_parts)
            rows.add(restored_rows)
        elif kind == "cli":
            run_s, restored_rows = restore_one_table_cli(bench, table, f"cli_copy_{run}")
            rows.add(restored_rows)
        else:
            run_s, side = timed(lambda: bench.side(target))
            side.stop()
            bench.clear()
        seconds[kind].append(run_s)
        archive_current_wal(bench.conninfo)
    one, cli, full = (median(seconds[k]) for k in ("table", "cli", "full"))
    least = median([sum(p.get(name, 0.0) for name in UNAVOIDABLE_PARTS) for p in parts])
    return {
        "table_restore_s": one,
        "table_restore_cli_s": cli,
        "full_restore_s": full,
        "table_restore_ratio": round(one / full, 3),
        "table_restore_cli_ratio": round(cli / full, 3),
        "table_restore_runs_s": rounded(seconds["table"]),
        "table_restore_cli_runs_s": rounded(seconds["cli"]),
        "full_restore_runs_s": rounded(seconds["full"]),
        "table_restore_parts_s": median_parts(parts),
        # Restoring the table's database + starting it + COPY: the least a table restore takes.
        "table_restore_least_s": least,
        "table_restore_half_reachable": least <= full / 2,
        "table_restored": table,
        "table_rows_copied": sorted(rows),
    }


def rotating(runs: int, *kinds: str) -> list[str]:
    """Each run does every kind once; which goes first moves on by one each run."""
    return [kinds[(run + i) % len(kinds)] for run in range(runs) for i in range(len(kinds))]


def restore_one_table_cli(bench: Bench, table: str, new_table: str) -> tuple[float, int]:
    """`backout db restore-table main TABLE --to-time T --as NEW --json`, the program itself,
    from its start to its exit; the copy is dropped afterwards (not timed)."""
    assert bench.target is not None
    argv = [str(Path(sys.executable).with_name("backout")), "db", "restore-table", "main", table]
    argv += ["--to-time", bench.target.isoformat(), "--as", new_table, "--json"]
    started = time.monotonic()
    done = subprocess.run(
        [*argv, "--config", str(bench.config_file)], capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"backout db restore-table failed: {done.stderr or done.stdout}")
    result = json.loads(done.stdout)
    with psycopg.connect(bench.conninfo, autocommit=True) as live:
        live.execute(f"DROP TABLE {result['restored_table']}")
    return seconds, int(result["restored_rows"])


def restore_one_table(
    bench: Bench, table: str, new_table: str, backup_id: str | None = None
) -> tuple[float, int, dict[str, float]]:
    """What `backout db restore-table main TABLE --to-time T --as NEW` (or `--backup ID`)
    runs, timed in parts; the copy is dropped afterwards (not timed)."""
    to_time = None if backup_id else bench.target
    request = TableRestoreRequest(
        "main", table, backup_id=backup_id, to_time=to_time, new_table=new_table
    )
    with ExitStack() as timing:
        calls = timing.enter_context(tool_calls())
        for owner, name, part in TABLE_RESTORE_PARTS:
            timing.enter_context(timed_function(calls, owner, name, part))
        started = time.monotonic()
        runtime = Runtime.open(bench.config_file)
        try:
            plan = table_restore.plan_table_restore(runtime, request)
            result = table_restore.restore_table(runtime, plan, actor="benchmark")
        finally:
            runtime.close()
        seconds = time.monotonic() - started
    rest = "the rest: config, plan, CREATE TABLE, commit, audit"
    parts = {**calls.seconds, rest: seconds - calls.total}
    with psycopg.connect(bench.conninfo, autocommit=True) as live:
        live.execute(f"DROP TABLE {result.restored_table}")
    return seconds, result.restored_rows, parts
