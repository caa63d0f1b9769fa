"""Database restores through backout against raw pgBackRest, and the data lost per WAL mode.

On a throwaway PostgreSQL cluster (initialised with `pgbench -i -s SCALE`, archiving through
backout's pgBackRest engine, a writer thread committing a timestamped row every ~10 ms):

- pitr_backout_s / pitr_raw_s: a point-in-time restore to one moment through
  `PgBackRestEngine.restore` + `SideCluster.start`, against `pgbackrest restore --type=time` +
  `pg_ctl start -w` + waiting for the promotion; RUNS alternating runs each, medians.
- loss_window_*: the primary stopped with `pg_ctl -m immediate`, then the newest state
  restored: newest committed row time minus newest row present, with archiving alone and with
  an asynchronous pg_receivewal; with a synchronous one, the committed transactions missing.
- table_restore_s: one table (pgbench_accounts) brought back through a side cluster (restore,
  start, COPY into the live cluster) against full_restore_s (restore + start alone).

Prints one JSON object. Run as root or as a user that may run initdb.

    python benchmarks/db_restore.py [--scale 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pg import (
    WRITES_TABLE,
    Writer,
    apply_settings,
    archive_current_wal,
    build_engine,
    create_writes_table,
    pgbench_init,
    raw_pitr,
    reachable_dir,
    restart_same_port,
    scalar,
    stop_immediate,
)

from backout.db.backup import RestoreTarget
from backout.db.backup.pgbackrest import PgBackRestEngine
from backout.db.cluster import SideCluster
from backout.db.connection import Database
from backout.db.wal_stream import WalStream
from tests.pg import PostgresCluster, find_bindir, start_cluster

ARCHIVE_TIMEOUT_S = 15
WRITE_BEFORE_CRASH_S = 3.0
TABLE = "pgbench_accounts"


class Bench:
    """The primary, its engine, and the folder every restore goes into."""

    def __init__(self, pg: PostgresCluster, engine: PgBackRestEngine, folder: Path) -> None:
        self.pg = pg
        self.engine = engine
        self.folder = folder
        self.into = folder / "restored"
        self.notes: list[str] = []
        self.restore_only_s: list[float] = []  # engine.restore alone, per side() call

    @property
    def conninfo(self) -> str:
        return self.pg.conninfo()

    def side(self, target: RestoreTarget, streamed_wal: Path | None = None) -> SideCluster:
        """Restore through backout and start the result (the caller stops it)."""
        seconds, _ = timed(
            lambda: self.engine.restore(target, self.into, streamed_wal=streamed_wal)
        )
        self.restore_only_s.append(seconds)
        return SideCluster.start(self.into, self.pg.bindir, self.pg.owner, timeout=600)

    def clear(self) -> None:
        shutil.rmtree(self.into, ignore_errors=True)


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def measure_pitr(bench: Bench, runs: int) -> dict[str, Any]:
    """Alternating backout / raw restores to the same moment, with writes going on."""
    time.sleep(1.0)  # the target is not in the backup's last second
    target = scalar(bench.conninfo, "SELECT clock_timestamp()")
    time.sleep(1.0)
    archive_current_wal(bench.conninfo)  # the WAL past the target reaches the repository
    backout_s: list[float] = []
    raw_s: list[float] = []
    raw_restore_s: list[float] = []
    bench.restore_only_s.clear()
    restored: dict[str, set[int]] = {"backout": set(), "raw": set()}
    for run in range(runs):
        # Each kind goes first in every other run: the previous restore's writeback is shared.
        for kind in ("backout", "raw") if run % 2 == 0 else ("raw", "backout"):
            if kind == "backout":
                seconds, side = timed(lambda: bench.side(RestoreTarget(time=target)))
                backout_s.append(seconds)
                restored[kind].add(check_rows(bench, side.database().conninfo, target, kind))
                side.stop()
            else:
                seconds, (raw, restore_s) = timed(
                    lambda: raw_pitr(bench.engine, bench.pg, bench.into, target)
                )
                raw_s.append(seconds)
                raw_restore_s.append(restore_s)
                restored[kind].add(check_rows(bench, raw.conninfo(), target, kind))
                raw.stop()
            bench.clear()
    if restored["backout"] != restored["raw"] or len(restored["raw"]) != 1:
        bench.notes.append(f"PITR writer rows restored differ between runs: {restored}")
    backout, raw_median = statistics.median(backout_s), statistics.median(raw_s)
    return {
        "pitr_backout_s": round(backout, 3),
        "pitr_raw_s": round(raw_median, 3),
        "pitr_ratio": round(backout / raw_median, 3),
        "pitr_backout_runs_s": [round(s, 3) for s in backout_s],
        "pitr_raw_runs_s": [round(s, 3) for s in raw_s],
        "pitr_backout_restore_step_s": round(statistics.median(bench.restore_only_s), 3),
        "pitr_raw_restore_step_s": round(statistics.median(raw_restore_s), 3),
    }


def check_rows(bench: Bench, conninfo: str, target: datetime, how: str) -> int:
    """The writer rows a PITR restored; a note if any was written after the target."""
    found, newest = scalar_row(conninfo, f"SELECT count(*), max(at) FROM {WRITES_TABLE}")
    if newest is not None and newest > target:
        bench.notes.append(f"{how} PITR kept a row written at {newest}, after the target {target}")
    return int(found)


def scalar_row(conninfo: str, query: str) -> tuple[Any, ...]:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        row = connection.execute(query).fetchone()
    assert row is not None
    return tuple(row)


def measure_table_restore(bench: Bench) -> dict[str, Any]:
    """Restore + start + COPY one table into the live cluster, against restore + start alone."""
    full_s, side = timed(lambda: bench.side(RestoreTarget()))
    side.stop()
    bench.clear()
    restored = f"{TABLE}_restored"
    with psycopg.connect(bench.conninfo, autocommit=True) as live:
        live.execute(f"CREATE TABLE {restored} (LIKE {TABLE})")

    def restore_table() -> SideCluster:
        side = bench.side(RestoreTarget())
        with (
            psycopg.connect(side.database().conninfo) as source,
            psycopg.connect(bench.conninfo) as target,
            source.cursor() as reader,
            target.cursor() as writer,
            reader.copy(f"COPY {TABLE} TO STDOUT (FORMAT binary)") as rows_out,
            writer.copy(f"COPY {restored} FROM STDIN (FORMAT binary)") as rows_in,
        ):
            for block in rows_out:
                rows_in.write(block)
        return side

    seconds, side = timed(restore_table)
    side.stop()
    bench.clear()
    copied = scalar(bench.conninfo, f"SELECT count(*) FROM {restored}")
    return {
        "table_restore_s": round(seconds, 3),
        "full_restore_s": round(full_s, 3),
        "table_restored": TABLE,
        "table_rows_copied": copied,
    }


@contextmanager
def writing(bench: Bench) -> Iterator[Writer]:
    writer = Writer(bench.conninfo)
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


def crash_with_stream(bench: Bench, synchronous: bool) -> tuple[Writer, WalStream]:
    """Stream WAL, write, stop the primary hard, stop the receiver."""
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
            time.sleep(WRITE_BEFORE_CRASH_S)
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
    writer, stream = crash_with_stream(bench, synchronous=False)
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
    writer, stream = crash_with_stream(bench, synchronous=True)
    side = bench.side(RestoreTarget(), streamed_wal=stream.folder)
    _, present = newest_present(side)
    side.stop()
    bench.clear()
    result["lost_txns_sync_stream"] = len(writer.committed_ids - present)
    result["sync_stream_txns_committed"] = len(writer.committed_ids)
    return result


def run(scale: int, runs: int) -> dict[str, Any]:
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL's server binaries are missing: apt-get install postgresql-15")
    result: dict[str, Any] = {"scale": scale, "archive_timeout_s": ARCHIVE_TIMEOUT_S}
    with ExitStack() as cleanup:
        folder = reachable_dir("backout-bench-db-")
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        pg = start_cluster(bindir)
        cleanup.callback(pg.destroy)
        engine = build_engine(pg, folder, ARCHIVE_TIMEOUT_S)
        # tests.pg turns synchronous_commit off; a commit must be durable for loss to mean much.
        apply_settings(pg.conninfo(), {**engine.required_settings(), "synchronous_commit": "on"})
        bench = Bench(pg, engine, folder)
        started = time.monotonic()
        pgbench_init(pg, scale)
        create_writes_table(pg.conninfo())
        result["pgbench_init_s"] = round(time.monotonic() - started, 3)
        with writing(bench):
            seconds, _ = timed(lambda: engine.backup("full"))
            result["backup_s"] = round(seconds, 3)
            result.update(measure_pitr(bench, runs))
            result.update(measure_table_restore(bench))
        result.update(measure_loss_windows(bench))
        result["notes"] = bench.notes
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20, help="pgbench -i scale factor")
    parser.add_argument("--runs", type=int, default=3, help="alternating PITR runs of each kind")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup runs
    started = time.monotonic()
    result = run(args.scale, args.runs)
    result["total_s"] = round(time.monotonic() - started, 3)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
