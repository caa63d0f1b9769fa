"""The logical engine's side of benchmarks/db_restore.py: one table of a pg_dump backup
(`backout db restore-table main TABLE --backup ID`, which restores only that table with
`pg_restore -t`) against the whole backup restored into an empty database, as `db restore`
does. Rotating runs, medians, every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import yaml
from _restores import Bench, restore_one_table, rotating, timed
from _timing import median, rounded

from backout.db.backup import RestoreTarget, backup_engine_for
from backout.db.backup.base import LogicalBackupEngine
from backout.db.connection import Database
from tests.pg import PostgresCluster


def write_logical_config(pg: PostgresCluster, folder: Path, database: str) -> Path:
    """A backout.yaml whose database `main` is `database` of `pg`, backed up by pg_dump into
    folder/dumps."""
    backup = {"type": "pg_dump", "repository": str(folder / "dumps"), "bindir": str(pg.bindir)}
    config = {
        "project": "db-restore-benchmark-logical",
        "state": {"database": "sqlite:///state-logical.db", "directory": "."},
        "databases": {"main": {"url": pg.conninfo(database), "backup": backup}},
    }
    path = folder / "backout-logical.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def measure_logical_table_restore(
    pg: PostgresCluster, folder: Path, database: str, tables: list[str], runs: int
) -> dict[str, Any]:
    """Each of `tables` restored from one pg_dump backup of `database`, against that whole
    backup restored; `runs` rotating runs of each."""
    bench = Bench(pg, write_logical_config(pg, folder, database), folder, database=database)
    engine = backup_engine_for(bench.config, "main")
    assert isinstance(engine, LogicalBackupEngine)
    backup_seconds, backup = timed(engine.backup)
    seconds: dict[str, list[float]] = {kind: [] for kind in ("whole", *tables)}
    rows: dict[str, int] = {}
    for run, kind in enumerate(rotating(runs, "whole", *tables)):
        if kind == "whole":
            seconds[kind].append(restore_whole(pg, engine, backup.id, f"whole_{run}"))
        else:
            run_s, rows[kind], _ = restore_one_table(bench, kind, f"copy_{run}", backup.id)
            seconds[kind].append(run_s)
    whole = median(seconds["whole"])
    found: dict[str, Any] = {
        "engine": "pg_dump",
        "database": database,
        "backup_s": round(backup_seconds, 3),
        "whole_restore_s": whole,
        "whole_restore_runs_s": rounded(seconds["whole"]),
    }
    for table in tables:
        one = median(seconds[table])
        found[table] = {
            "table_restore_s": one,
            "table_restore_ratio": round(one / whole, 3),
            "table_restore_half_reached": one <= whole / 2,
            "table_restore_runs_s": rounded(seconds[table]),
            "rows_copied": rows[table],
        }
    return found


def restore_whole(
    pg: PostgresCluster, engine: LogicalBackupEngine, backup_id: str, into: str
) -> float:
    """Seconds to restore the whole backup into a new empty database (dropped afterwards)."""
    with psycopg.connect(pg.conninfo(), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {into}")
    target = Database("main", pg.conninfo(into))
    run_s, _ = timed(lambda: engine.restore_database(RestoreTarget(backup_id=backup_id), target))
    with psycopg.connect(pg.conninfo(), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {into}")
    return run_s
