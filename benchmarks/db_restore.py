"""Database restores through backout against raw pgBackRest, and the data lost per WAL mode.

On a throwaway PostgreSQL cluster (initialised with `pgbench -i -s SCALE`, archiving through
the pgBackRest engine of a backout.yaml written into a temp folder, and a writer process
committing a timestamped row every ~10 ms):

- pitr_backout_s / pitr_raw_s / pitr_ratio: a point-in-time restore to one moment, until the
  restored server is promoted and answers. backout: what its db_restore step runs (a fresh
  engine built from the config, `PgBackRestEngine.restore`, `SideCluster.start`); raw: the same
  `pgbackrest restore` options (checked: pitr_same_restore_options), `pg_ctl start -w` and
  polling for the promotion every 0.1 s, as SideCluster does. RUNS runs of each, alternating
  which goes first; medians, every run, and the median seconds of each part (pitr_*_parts_s).
  The restore command itself varies by a second or more from run to run on a busy machine;
  pitr_ratio_at_median_command is the ratio with that identical command at its median time
  (over both kinds) and each kind's own seconds around it: backout's orchestration cost alone;
  pitr_backout_before_restore_s is the part of it spent checking before the restore command.
- table_restore_s / table_restore_cli_s / full_restore_s: `backout db restore-table main
  TABLE --to-time T --as NEW` — in-process (what the command calls: config, plan, restore of
  the live database's files, its throwaway side cluster, COPY read by psql into the live
  cluster, stop, delete), timed in parts, and the `backout` program itself from start to exit
  — against a whole restore to T + start through the same engine, as `db restore` starts it
  (a side cluster kept for reading: not throwaway); TABLE_RUNS rotating runs of each, medians,
  and the parts of a table restore. TABLE is pgbench_accounts (about 90 % of the backup) unless
  --table names another; pgbench's tables live in the `postgres` database, which pgBackRest
  always restores whole, so the table restore restores as much as the whole restore does.
  table_restore_least_s is what no orchestration can remove while pgBackRest restores whole
  databases (--db-include selects databases, never tables): its database's restore, the start
  with WAL replayed to the target, and the COPY into the live cluster (WAL-logged like any
  write of live data); table_restore_half_reachable says whether that least is at most half of
  a whole restore. It can be only when the table's database (not `postgres`, `template0/1`) is
  a small part of the cluster and the table a small part of its database.
- small_database: the same figures for a table of SMALL_TABLE_ROWS orders in a database of
  its own (`shop`) beside pgbench's: there --db-include restores `shop` and the system
  databases only, which saves disk writes but not pgBackRest's fixed costs nor the start.
- logical: the same database backed up by the pg_dump engine; each of LOGICAL_TABLES restored
  by `db restore-table --backup ID` (`pg_restore -t`: only that table is read) against the
  whole backup restored into an empty database; table_restore_half_reached per table.
- loss_window_*: the primary stopped with `pg_ctl -m immediate`, then the newest state
  restored: newest committed row time minus newest row present, with archiving alone and with
  an asynchronous pg_receivewal; with a synchronous one, the committed transactions missing.
  The asynchronous crash comes about 3 s before archive_timeout's second segment switch after
  one of its own, so loss_window_archive_s is near archiving's worst case (archive_timeout);
  a crash at a random moment of the cycle loses half of it on average.

Prints one JSON object. Run as root or as a user that may run initdb.

    python benchmarks/db_restore.py [--scale 20] [--runs 5] [--table-runs 3] [--table T]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _logical import measure_logical_table_restore
from _pg import (
    SMALL_DATABASE,
    SMALL_TABLE,
    WRITES_TABLE,
    Writer,
    apply_settings,
    archive_current_wal,
    create_small_database,
    create_writes_table,
    pgbench_init,
    reachable_dir,
    restart_same_port,
    stop_immediate,
    write_config,
)
from _restores import TABLE, Bench, measure_pitr, measure_table_restore, timed

from backout.db.backup import RestoreTarget
from backout.db.cluster import SideCluster
from backout.db.connection import Database
from backout.db.wal_stream import WalStream
from tests.pg import find_bindir, start_cluster

ARCHIVE_TIMEOUT_S = 15
SMALL_TABLE_ROWS = 100_000
# The least and the most of pgbench's backup: 20 rows, and about 90 % of it.
LOGICAL_TABLES = ("pgbench_branches", "pgbench_accounts")
WRITE_BEFORE_CRASH_S = 3.0
# Shortly before archive_timeout's second switch: archiving alone then loses nearly the most it
# can; had the first timeout switch not come, it would lose more than archive_timeout.
ARCHIVING_CRASH_AT_S = 2 * ARCHIVE_TIMEOUT_S - 3.0


@contextmanager
def writing(bench: Bench) -> Iterator[Writer]:
    writer = Writer(bench.conninfo, Path(tempfile.mkstemp(".log", "writer-", bench.folder)[1]))
    writer.start()
    try:
        writer.wait_for(20)
        yield writer
    finally:
        writer.stop()


def newest_present(side: SideCluster) -> tuple[datetime, set[int]]:
    with psycopg.connect(side.database().conninfo) as connection:
        rows = connection.execute(f"SELECT id, at FROM {WRITES_TABLE}").fetchall()
    return max(at for _, at in rows), {int(row_id) for row_id, _ in rows}


def crash_with_stream(bench: Bench, synchronous: bool, write_s: float) -> tuple[Writer, WalStream]:
    """Stream WAL, write for `write_s` after a WAL switch, stop the primary hard, stop the
    receiver."""
    name = "bench_sync" if synchronous else "bench_async"
    stream = WalStream(
        Database("main", bench.conninfo),
        bench.folder / name,
        bench.pg.bindir,
        slot=name,
        synchronous=synchronous,
        application_name=name,
    )
    apply_settings(bench.conninfo, stream.required_settings())
    stream.start()
    try:
        with writing(bench) as writer:
            archive_current_wal(bench.conninfo)  # archive_timeout counts from this switch
            time.sleep(write_s)
            stop_immediate(bench.pg)
    finally:
        stream.stop()
    return writer, stream


def measure_loss_windows(bench: Bench) -> dict[str, Any]:
    """Each WAL mode's loss; a mode that fails is null, and a note says why."""
    result: dict[str, Any] = dict.fromkeys(
        ["loss_window_async_stream_s", "loss_window_archive_s", "lost_txns_sync_stream"]
    )
    for measure in (measure_async_and_archive, measure_sync):
        try:
            result.update(measure(bench))
        except Exception as error:
            bench.notes.append(f"{measure.__name__} failed: {type(error).__name__}: {error}")
            bench.clear()
    return result


def measure_async_and_archive(bench: Bench) -> dict[str, Any]:
    """One hard stop with an asynchronous receiver; the newest state with and without it."""
    result: dict[str, Any] = {}
    writer, stream = crash_with_stream(bench, synchronous=False, write_s=ARCHIVING_CRASH_AT_S)
    assert writer.newest_committed is not None
    for key, streamed in (
        ("loss_window_async_stream_s", stream.folder),
        ("loss_window_archive_s", None),
    ):
        side = bench.side(RestoreTarget(), streamed_wal=streamed)
        newest, _ = newest_present(side)
        side.stop()
        bench.clear()
        result[key] = round(max(0.0, (writer.newest_committed - newest).total_seconds()), 3)
    restart_same_port(bench.pg)
    return result


def measure_sync(bench: Bench) -> dict[str, Any]:
    """A hard stop with a synchronous receiver: how many acknowledged commits are missing."""
    result: dict[str, Any] = {}
    writer, stream = crash_with_stream(bench, synchronous=True, write_s=WRITE_BEFORE_CRASH_S)
    side = bench.side(RestoreTarget(), streamed_wal=stream.folder)
    _, present = newest_present(side)
    side.stop()
    bench.clear()
    result["lost_txns_sync_stream"] = len(writer.committed_ids - present)
    result["sync_stream_txns_committed"] = len(writer.committed_ids)
    return result


def run(scale: int, runs: int, table_runs: int, table: str) -> dict[str, Any]:
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL's server binaries are missing: apt-get install postgresql-15")
    result: dict[str, Any] = {"scale": scale, "archive_timeout_s": ARCHIVE_TIMEOUT_S}
    with ExitStack() as cleanup:
        folder = reachable_dir("backout-bench-db-")
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        pg = start_cluster(bindir)
        cleanup.callback(pg.destroy)
        bench = Bench(pg, write_config(pg, folder, ARCHIVE_TIMEOUT_S), folder)
        engine = bench.engine()
        # tests.pg turns synchronous_commit off; a commit must be durable for loss to mean much.
        apply_settings(pg.conninfo(), {**engine.required_settings(), "synchronous_commit": "on"})
        started = time.monotonic()
        pgbench_init(pg, scale)
        create_writes_table(pg.conninfo())
        create_small_database(pg, SMALL_TABLE_ROWS)
        result["pgbench_init_s"] = round(time.monotonic() - started, 3)
        with writing(bench):
            seconds, _ = timed(lambda: engine.backup("full"))
            result["backup_s"] = round(seconds, 3)
            result.update(measure_pitr(bench, runs))
            result.update(measure_table_restore(bench, table_runs, table))
            result["small_database"] = measure_small_database(bench, folder, table_runs)
        result["logical"] = measure_logical_table_restore(
            pg, folder, "postgres", list(LOGICAL_TABLES), table_runs
        )
        result.update(measure_loss_windows(bench))
        result["notes"] = bench.notes
    return result


def measure_small_database(bench: Bench, folder: Path, runs: int) -> dict[str, Any]:
    """The same measures for a table of a small database beside pgbench's: what pgBackRest's
    --db-include leaves out is what makes a table restore cheaper than a whole one."""
    config = write_config(
        bench.pg, folder, ARCHIVE_TIMEOUT_S, database=SMALL_DATABASE, name="backout-shop.yaml"
    )
    small = Bench(bench.pg, config, folder, database=SMALL_DATABASE)
    small.target = bench.target
    found = measure_table_restore(small, runs, SMALL_TABLE)
    found["database"] = SMALL_DATABASE
    found["rows"] = SMALL_TABLE_ROWS
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20, help="pgbench -i scale factor")
    parser.add_argument("--runs", type=int, default=5, help="PITR runs of each kind")
    parser.add_argument("--table-runs", type=int, default=3, help="table / whole restore runs")
    parser.add_argument("--table", default=TABLE, help="the pgbench table restored alone")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup runs
    started = time.monotonic()
    result = run(args.scale, args.runs, args.table_runs, args.table)
    result["total_s"] = round(time.monotonic() - started, 3)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
