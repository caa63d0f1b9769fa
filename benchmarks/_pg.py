"""Helpers of benchmarks/db_restore.py: a primary archiving through backout's pgBackRest engine,
a writer thread that remembers what was committed, and raw (non-backout) restores to compare."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.pg

from backout.config import ClusterSettings, PluginSpec
from backout.db import cluster as db_cluster
from backout.db.backup import BACKUP_ENGINES, DbPluginContext
from backout.db.backup.pgbackrest import PgBackRestEngine
from backout.db.connection import Database
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


def build_engine(pg: PostgresCluster, state_dir: Path, archive_timeout_s: int) -> PgBackRestEngine:
    """The pgbackrest engine of `pg`, built the way backout's registry builds it."""
    settings = ClusterSettings(data_dir=str(pg.data_dir), bindir=str(pg.bindir), os_user=pg.owner)
    context = DbPluginContext(
        service="main",
        config_file=state_dir / "backout.yaml",
        base_dir=state_dir,
        state_dir=state_dir,
        database=Database("main", pg.conninfo()),
        cluster=settings,
    )
    spec = {"type": "pgbackrest", "repository": "repo", "archive_timeout": f"{archive_timeout_s}s"}
    engine = BACKUP_ENGINES.build(PluginSpec(**spec), ("databases", "main", "backup"), context)
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
    """A thread committing one timestamped row at a time until stopped or the server dies."""

    conninfo: str
    committed_ids: set[int] = field(default_factory=set)
    newest_committed: datetime | None = None
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bench-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Block until `count` more rows were committed (proves the writer writes)."""
        goal = len(self.committed_ids) + count
        deadline = time.monotonic() + timeout
        while len(self.committed_ids) < goal:
            if self.error is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the writer is not writing: {self.error}")
            time.sleep(POLL_S)

    def _run(self) -> None:
        insert = f"INSERT INTO {WRITES_TABLE} (at) VALUES (clock_timestamp()) RETURNING id, at"
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as connection:
                while not self._stop.is_set():
                    row = connection.execute(insert).fetchone()
                    assert row is not None
                    self.committed_ids.add(int(row[0]))
                    self.newest_committed = row[1]
                    time.sleep(WRITE_PAUSE_S)
        except psycopg.Error as error:
            self.error = str(error).strip()


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
        if (self.data_dir / "postmaster.pid").exists():
            pg_ctl = [str(self.bindir / "pg_ctl"), "stop", "-m", "immediate", "-w"]
            run_as(self.owner, [*pg_ctl, "-D", str(self.data_dir)])
        shutil.rmtree(self.runtime, ignore_errors=True)


def raw_pitr(
    engine: PgBackRestEngine, pg: PostgresCluster, into: Path, target: datetime
) -> tuple[RawServer, float]:
    """pgbackrest restore --type=time + pg_ctl start -w + wait for promotion, by hand; also the
    seconds the restore step alone took."""
    started = time.monotonic()
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(mode=0o700)
    db_cluster.give_to(into, pg.owner)
    moment = f"{target.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}+00"
    restore = ["pgbackrest", f"--config={engine.config_file}", f"--stanza={engine.stanza}"]
    # --set as backout passes it: pgBackRest's own pick compares whole-second stop times.
    backup_set = engine.backups()[-1].id
    restore += [f"--pg1-path={into}", f"--set={backup_set}", "--type=time", f"--target={moment}"]
    restore += ["--target-action=promote", "restore"]
    done = run_as(pg.owner, restore)
    restore_s = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"raw pgbackrest restore failed: {done.stdout}{done.stderr}")
    runtime = reachable_dir("backout-bench-raw-")
    db_cluster.give_to(runtime, pg.owner)
    server = RawServer(into, pg.bindir, pg.owner, runtime, db_cluster._free_port())
    options = f"-p {server.port} -c archive_mode=off -c unix_socket_directories={runtime}"
    options += " -c listen_addresses=127.0.0.1"
    start = [str(pg.tool("pg_ctl")), "start", "-w", "-t", str(int(READY_TIMEOUT_S))]
    start += ["-D", str(into), "-l", str(runtime / "server.log"), "-o", options]
    done = run_as(pg.owner, start)
    if done.returncode != 0:
        server.stop()
        raise RuntimeError(f"raw pg_ctl start failed: {done.stderr}")
    _wait_promoted(server)
    return server, restore_s


def _wait_promoted(server: RawServer) -> None:
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
