"""Helpers of the backup engine tests: engines built the way the registry builds them, clusters
that archive their WAL through pgBackRest, folders the clusters' OS user can reach."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from backout.config import ClusterSettings, PluginSpec
from backout.db.backup import BACKUP_ENGINES, BackupEngine, DbPluginContext
from backout.db.backup.pgbackrest import PgBackRestEngine
from backout.db.connection import Database
from tests.pg import PostgresCluster, find_bindir, start_cluster
from tests.pg_fixtures import MISSING_BINARIES, running_in_ci

PGBACKREST_MISSING = "pgbackrest is not installed (scripts/ensure-system-deps.sh installs it)"
ARCHIVE_WAIT_S = 30.0


def require_pgbackrest() -> None:
    """Skip without pgbackrest, except in CI, where its absence is a failure."""
    if shutil.which("pgbackrest") is None:
        if running_in_ci():
            pytest.fail(f"CI is set and {PGBACKREST_MISSING}", pytrace=False)
        pytest.skip(PGBACKREST_MISSING)


def require_bindir() -> Path:
    bindir = find_bindir()
    if bindir is None:
        if running_in_ci():
            pytest.fail(f"CI is set and {MISSING_BINARIES}", pytrace=False)
        pytest.skip(MISSING_BINARIES)
    return bindir


def reachable_dir(prefix: str) -> Path:
    """A fresh folder in the system temp folder that a cluster's OS user may enter (pytest's
    tmp_path under root is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def build_engine(
    spec: dict[str, Any],
    *,
    url: str,
    state_dir: Path,
    cluster: ClusterSettings | None = None,
    name: str = "main",
) -> BackupEngine:
    context = DbPluginContext(
        service=name,
        config_file=state_dir / "backout.yaml",
        base_dir=state_dir,
        state_dir=state_dir,
        database=Database(name, url),
        cluster=cluster,
    )
    return BACKUP_ENGINES.build(PluginSpec(**spec), ("databases", name, "backup"), context)


def apply_settings(database: Database, settings: dict[str, str]) -> None:
    """ALTER SYSTEM each setting and reload (what `backout db setup --apply` will do)."""
    with database.connect(autocommit=True) as connection:
        for name, value in settings.items():
            connection.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
        connection.execute("SELECT pg_reload_conf()")


@dataclass
class Archiving:
    """A running cluster whose WAL pgBackRest archives, with one full backup taken."""

    pg: PostgresCluster
    engine: PgBackRestEngine
    folder: Path  # state and repository, reachable by the cluster's user

    @property
    def database(self) -> Database:
        return Database("main", self.pg.conninfo())

    def new_table(self) -> str:
        table = f"t_{uuid.uuid4().hex[:10]}"
        self.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, at timestamptz)")
        return table

    def insert(self, table: str, row_id: int) -> datetime:
        """Insert and commit one row; returns the moment it was written."""
        written = self.scalar(
            f"INSERT INTO {table} VALUES (%s, clock_timestamp()) RETURNING at", row_id
        )
        assert isinstance(written, datetime)
        return written

    def now(self) -> datetime:
        """The server's clock: later than every commit so far, earlier than every next one."""
        now = self.scalar("SELECT clock_timestamp()")
        assert isinstance(now, datetime)
        return now

    def archive_current_wal(self) -> str:
        """Switch to a new WAL segment and wait until the finished one is archived."""
        finished = self.scalar("SELECT pg_walfile_name(pg_switch_wal())")
        deadline = time.monotonic() + ARCHIVE_WAIT_S
        while (self.scalar("SELECT last_archived_wal FROM pg_stat_archiver") or "") < finished:
            assert time.monotonic() < deadline, f"{finished} was not archived in time"
            time.sleep(0.05)
        return str(finished)

    def execute(self, query: str, *params: object) -> None:
        with psycopg.connect(self.pg.conninfo(), autocommit=True) as connection:
            connection.execute(query, params or None)

    def scalar(self, query: str, *params: object) -> Any:
        with psycopg.connect(self.pg.conninfo(), autocommit=True) as connection:
            row = connection.execute(query, params or None).fetchone()
        return row[0] if row else None

    def destroy(self) -> None:
        self.pg.destroy()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_archiving(**settings: Any) -> Archiving:
    """A new cluster archiving through a pgbackrest engine (its settings applied), backed up."""
    require_pgbackrest()
    bindir = require_bindir()
    pg = start_cluster(bindir)
    folder = reachable_dir("backout-pgbr-")
    try:
        cluster = ClusterSettings(data_dir=str(pg.data_dir), bindir=str(bindir), os_user=pg.owner)
        spec = {"type": "pgbackrest", "repository": "repo", "archive_timeout": "60s", **settings}
        engine = build_engine(spec, url=pg.conninfo(), state_dir=folder, cluster=cluster)
        assert isinstance(engine, PgBackRestEngine)
        archiving = Archiving(pg, engine, folder)
        apply_settings(archiving.database, engine.required_settings())
        engine.backup("full")
    except BaseException:
        pg.destroy()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return archiving


def rows(database: Database, table: str) -> list[int]:
    with database.connect() as connection:
        return [int(str(r[0])) for r in connection.execute(f"SELECT id FROM {table} ORDER BY id")]
