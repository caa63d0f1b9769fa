"""Helpers of benchmarks/db_restore.py: a primary archiving through backout's pgBackRest engine,
a writer process that logs what was committed, and raw (non-backout) restores to compare."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.pg

from backout.config import Config
from backout.db import cluster as db_cluster
from backout.db.backup import backup_engine_for
from backout.db.backup.pgbackrest import PgBackRestEngine
from tests.pg import PostgresCluster, run_as

WRITES_TABLE = "bench_writes"
WRITE_PAUSE_S = 0.01
POLL_S = 0.05
READY_TIMEOUT_S = 600.0


def reachable_dir(prefix: str) -> Path:
    """A temp folder the cluster's OS user may enter."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def write_config(
    pg: PostgresCluster,
    folder: Path,
    archive_timeout_s: int,
    *,
    database: str = "postgres",
    name: str = "backout.yaml",
) -> Path:
    """A backout.yaml (`name`) whose database `main` is `database` of `pg`, backed up by
    pgBackRest into folder/repo (stanza `main`), with backout's state (and pgBackRest's config,
    log and spool) in `folder`."""
    cluster = {"data_dir": str(pg.data_dir), "bindir": str(pg.bindir), "os_user": pg.owner}
    backup = {
        "type": "pgbackrest",
        "repository": "repo",
        "archive_timeout": f"{archive_timeout_s}s",
    }
    config = {
        "project": "db-restore-benchmark",
        "state": {"database": "sqlite:///state.db", "directory": "."},
        "databases": {"main": {"url": pg.conninfo(database), "cluster": cluster, "backup": backup}},
    }
    path = folder / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def engine_of(config: Config) -> PgBackRestEngine:
    """A fresh engine of database `main`, built the way every backout command builds it."""
    engine = backup_engine_for(config, "main")
    assert isinstance(engine, PgBackRestEngine)
    return engine


def apply_settings(conninfo: str, settings: dict[str, str]) -> None:
    """ALTER SYSTEM each setting and reload."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for name, value in settings.items():
            statement = sql.SQL("ALTER SYSTEM SET {} = {}")
            connection.execute(statement.format(sql.Identifier(name), sql.Literal(value)))
        connection.execute("SELECT pg_reload_conf()")


def scalar(conninfo: str, query: str) -> Any:
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as connection:
        row = connection.execute(query).fetchone()
    return row[0] if row else None


def archive_current_wal(conninfo: str, timeout: float = 60.0) -> None:
    """Switch WAL segments and wait until the finished one is archived."""
    finished = scalar(conninfo, "SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + timeout
    query = "SELECT last_archived_wal FROM pg_stat_archiver"
    while (scalar(conninfo, query) or "") < finished:
        if time.monotonic() > deadline:
            raise RuntimeError(f"WAL segment {finished} was not archived within {timeout}s")
        time.sleep(POLL_S)


def stop_immediate(pg: PostgresCluster) -> None:
    """Kill the primary the hard way: no checkpoint, no final WAL switch."""
    pg.run_as_owner([pg.tool("pg_ctl"), "stop", "-m", "immediate", "-w", "-D", pg.data_dir])


def restart_same_port(pg: PostgresCluster) -> None:
    """Start a stopped primary again with its settings (and port) unchanged: crash recovery."""
    done = pg.run_as_owner(
        [pg.tool("pg_ctl"), "start", "-w", "-t", "120", "-D", pg.data_dir, "-l", pg.log_file]
    )
    if done.returncode != 0:
        raise RuntimeError(f"the primary did not restart: {done.stderr}\n{pg.server_log()[-2000:]}")


@dataclass
class Writer:
    """Another process committing one timestamped row at a time until stopped or the server
    dies, logging each acknowledged commit to `log` ("id at" lines, flushed one by one).

    A process, not a thread: the restores measured here run Python in this process (COPY moves
    each row through it), and a thread here would take turns with them on the GIL.
    """

    conninfo: str
    log: Path
    _stop: EventType | None = None
    _process: BaseProcess | None = None

    def start(self) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._stop = spawn.Event()
        self._process = spawn.Process(
            target=write_rows, args=(self.conninfo, self.log, self._stop), daemon=True
        )
        self._process.start()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._process is not None:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()

    @property
    def committed_ids(self) -> set[int]:
        return {int(row_id) for row_id, _ in self._commits()}

    @property
    def newest_committed(self) -> datetime | None:
        commits = self._commits()
        return datetime.fromisoformat(commits[-1][1]) if commits else None

    @property
    def error(self) -> str | None:
        errors = [
            line.removeprefix("error ") for line in self._lines() if line.startswith("error ")
        ]
        return errors[-1] if errors else None

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Block until `count` more rows were committed (proves the writer writes)."""
        goal = len(self._commits()) + count
        deadline = time.monotonic() + timeout
        while len(self._commits()) < goal:
            if self.error is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the writer is not writing: {self.error}")
            time.sleep(POLL_S)

    def _lines(self) -> list[str]:
        """The complete lines (the writer may be halfway through the next one)."""
        try:
            text = self.log.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return text[: text.rfind("\n") + 1].splitlines()

    def _commits(self) -> list[tuple[str, str]]:
        rows = (line.split(" ", 1) for line in self._lines() if not line.startswith("error "))
        return [(row[0], row[1]) for row in rows if len(row) == 2]


def write_rows(conninfo: str, log: Path, stop: EventType) -> None:
    """The writer process: insert, log the acknowledged row, pause; log the error that ends it."""
    insert = f"INSERT INTO {WRITES_TABLE} (at) VALUES (clock_timestamp()) RETURNING id, at"
    with log.open("a", encoding="utf-8") as out:
        try:
            with psycopg.connect(conninfo, autocommit=True) as connection:
                while not stop.is_set():
                    row = connection.execute(insert).fetchone()
                    assert row is not None
                    out.write(f"{row[0]} {row[1].isoformat()}\n")
                    out.flush()
                    time.sleep(WRITE_PAUSE_S)
        except psycopg.Error as error:
            out.write("error " + " ".join(str(error).split()) + "\n")


def create_writes_table(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {WRITES_TABLE} "
            "(id bigserial PRIMARY KEY, at timestamptz NOT NULL)"
        )


def pgbench_init(pg: PostgresCluster, scale: int) -> None:
    argv = [str(pg.tool("pgbench")), "-i", "-q", "-s", str(scale)]
    argv += ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "postgres"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i failed: {done.stderr}")


@dataclass
class RawServer:
    """A restored data dir started with plain pg_ctl (no backout), on its own port and socket."""

    data_dir: Path
    bindir: Path
    owner: str | None
    runtime: Path
    port: int

    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def stop(self) -> None:
        """As SideCluster.stop: fast shutdown, immediate if that fails, then its folder goes."""
        for mode in ("fast", "immediate"):
            if (self.data_dir / "postmaster.pid").exists():
                pg_ctl = [str(self.bindir / "pg_ctl"), "stop", "-m", mode, "-w"]
                run_as(self.owner, [*pg_ctl, "-D", str(self.data_dir)])
        shutil.rmtree(self.runtime, ignore_errors=True)


@dataclass
class RawRestore:
    """A raw PITR's server and the seconds of each part of it."""

    server: RawServer
    parts: dict[str, float]


def raw_restore_argv(
    config_file: Path, stanza: str, into: Path, backup_set: str, target: datetime
) -> list[str]:
    """pgbackrest restore to `target` from `backup_set`: the options backout's engine passes
    (--set too: pgBackRest's own pick compares whole-second stop times), nothing else."""
    moment = f"{target.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}+00"
    argv = ["pgbackrest", f"--config={config_file}", f"--stanza={stanza}"]
    argv += [f"--pg1-path={into}", f"--set={backup_set}", "--type=time", f"--target={moment}"]
    return [*argv, "--target-action=promote", "restore"]


def raw_pitr(pg: PostgresCluster, into: Path, restore_argv: list[str]) -> RawRestore:
    """`pgbackrest restore --type=time`, `pg_ctl start -w` and waiting for the promotion, by hand:
    what an operator types, without backout."""
    clock = Clock()
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(mode=0o700)
    db_cluster.give_to(into, pg.owner)
    clock.lap("other work before the restore")
    done = run_as(pg.owner, restore_argv)
    clock.lap("pgbackrest restore")
    if done.returncode != 0:
        raise RuntimeError(f"raw pgbackrest restore failed: {done.stdout}{done.stderr}")
    runtime = reachable_dir("backout-bench-raw-")
    db_cluster.give_to(runtime, pg.owner)
    server = RawServer(into, pg.bindir, pg.owner, runtime, db_cluster.free_port())
    options = f"-p {server.port} -c archive_mode=off -c unix_socket_directories={runtime}"
    options += " -c listen_addresses=127.0.0.1"
    start = [str(pg.tool("pg_ctl")), "start", "-w", "-t", str(int(READY_TIMEOUT_S))]
    start += ["-D", str(into), "-l", str(runtime / "server.log"), "-o", options]
    clock.lap("other work before the restore")
    done = run_as(pg.owner, start)
    clock.lap("pg_ctl start")
    if done.returncode != 0:
        server.stop()
        raise RuntimeError(f"raw pg_ctl start failed: {done.stderr}")
    _wait_promoted(server)
    clock.lap("until promoted")
    return RawRestore(server, clock.parts)


@dataclass
class Clock:
    """Seconds per named part of a run, each lap added to its part."""

    parts: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.monotonic)

    def lap(self, part: str) -> None:
        now = time.monotonic()
        self.parts[part] = self.parts.get(part, 0.0) + now - self._last
        self._last = now


def _wait_promoted(server: RawServer) -> None:
    """Poll as SideCluster does: every 0.1 s, until pg_is_in_recovery() is false."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            if scalar(server.conninfo(), "SELECT pg_is_in_recovery()") is False:
                return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("the raw restore did not finish recovery in time")
        time.sleep(0.1)


SMALL_DATABASE = "shop"
SMALL_TABLE = "orders"


def create_small_database(pg: PostgresCluster, rows: int) -> None:
    """A database beside pgbench's (in `postgres`) with one table of `rows` orders: the case
    where the table's database is a small part of the cluster."""
    with psycopg.connect(pg.conninfo(), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {SMALL_DATABASE}")
    with psycopg.connect(pg.conninfo(SMALL_DATABASE), autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE {SMALL_TABLE} (id bigint PRIMARY KEY, customer text NOT NULL, "
            "total numeric(10, 2) NOT NULL, at timestamptz NOT NULL)"
        )
        connection.execute(
            f"INSERT INTO {SMALL_TABLE} SELECT n, 'customer ' || mod(n, 997), "
            "mod(n, 10000) / 100.0, now() - n * interval '1 second' "
            "FROM generate_series(1, %s) AS n",
            (rows,),
        )
