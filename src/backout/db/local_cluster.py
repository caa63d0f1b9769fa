"""Throwaway PostgreSQL clusters on this machine: initdb + pg_ctl in a folder, loopback only.

The quickstart's database story runs on one, and so do the tests. A cluster listens on
127.0.0.1 at a free port, keeps its unix socket in its own folder and trusts every local
connection; its superuser is `postgres`. initdb refuses to run as root, so under root the
cluster belongs to an unprivileged OS user (the caller names it; the `postgres` account the
Debian packages create is the usual one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from backout.db.cluster import free_port, give_to, run_tool
from backout.errors import UnavailableError

DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")
BINDIR_ENV = "BACKOUT_PG_BINDIR"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_ATTEMPTS = 3
READY_TIMEOUT_S = 30.0
SERVER_PACKAGE = "postgresql-15"


class ClusterSetupError(UnavailableError):
    """A local cluster could not be created or started; the message carries the server's log."""


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: $BACKOUT_PG_BINDIR, PG 15, or pg_config's."""
    candidates = [DEFAULT_BINDIR]
    if override := os.environ.get(BINDIR_ENV):
        candidates.insert(0, Path(override))
    if reported := _pg_config_bindir():
        candidates.append(reported)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def require_bindir() -> Path:
    """find_bindir(), or an error saying which package brings the server's programs."""
    bindir = find_bindir()
    if bindir is None:
        raise UnavailableError(
            "PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed here",
            hint=f"install them: apt-get install {SERVER_PACKAGE} (or set {BINDIR_ENV})",
        )
    return bindir


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


@dataclass
class LocalCluster:
    """One cluster in `root`: `initdb()`, then `start()`, `stop()`, `destroy()`.

    `settings` are written to a file postgresql.conf includes, on every start.
    """

    root: Path
    bindir: Path
    owner: str | None
    port: int = 0
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def _settings_file(self) -> Path:
        return self.data_dir / "backout-local.conf"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` in this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        """The libpq connection string of `database`, for psycopg and the pg_* tools."""
        return f"host={HOST} port={self.port} user={SUPERUSER} dbname={database}"

    def tool(self, name: str) -> Path:
        """The path of a PostgreSQL program of this cluster's version (pg_basebackup, psql...)."""
        return self.bindir / name

    def run_as_owner(self, argv: Sequence[str | Path]) -> subprocess.CompletedProcess[str]:
        """Run a command as the cluster's OS user (needed for anything touching data_dir)."""
        return run_tool(argv, user=self.owner)

    def initdb(self) -> None:
        for folder in (self.root, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
            give_to(folder, self.owner)
        done = self.run_as_owner(
            [
                *(self.tool("initdb"), "--pgdata", self.data_dir, "--username", SUPERUSER),
                *("--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"),
            ]
        )
        _require(done, "initdb")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            # Relative, so a copy of the data dir (a base backup restored elsewhere) keeps it.
            conf.write(f"\ninclude '{self._settings_file.name}'\n")

    def start(self) -> None:
        """Start on a free port, retried if taken; return once the server accepts connections."""
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = free_port()
            self._write_settings()
            done = self.run_as_owner(
                [
                    *(self.tool("pg_ctl"), "start", "-w", "-t", str(int(READY_TIMEOUT_S))),
                    *("-D", self.data_dir, "-l", self.log_file),
                ]
            )
            if done.returncode == 0:
                self._wait_until_accepting()
                return
            if attempt == START_ATTEMPTS or "Address already in use" not in self.server_log():
                raise ClusterSetupError(f"pg_ctl start failed:\n{done.stderr}\n{self.server_log()}")

    def restart(self) -> None:
        """Restart on the same port (settings that need a restart, such as archive_mode)."""
        done = self.run_as_owner(
            [
                *(self.tool("pg_ctl"), "restart", "-w", "-t", str(int(READY_TIMEOUT_S))),
                *("-D", self.data_dir, "-l", self.log_file, "-m", "fast"),
            ]
        )
        if done.returncode != 0:
            raise ClusterSetupError(f"pg_ctl restart failed:\n{done.stderr}\n{self.server_log()}")
        self._wait_until_accepting()

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions); a stopped cluster is left as it is."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        pg_ctl = self.tool("pg_ctl")
        done = self.run_as_owner([pg_ctl, "stop", "-m", "fast", "-w", "-D", self.data_dir])
        if done.returncode != 0:
            self.run_as_owner([pg_ctl, "stop", "-m", "immediate", "-w", "-D", self.data_dir])

    def destroy(self) -> None:
        """Stop the server and remove every file of the cluster."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def server_log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (named `test_<random>` unless given) and return its name."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.conninfo(), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database even if connections to it are still open."""
        with psycopg.connect(self.conninfo(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _write_settings(self) -> None:
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "50",
            "shared_buffers": "32MB",
            **self.settings,
        }
        self._settings_file.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        give_to(self._settings_file, self.owner)

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2) as probe:
                    probe.execute("SELECT 1")
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise ClusterSetupError(
                        f"cluster on port {self.port} not accepting connections: {error}\n"
                        f"{self.server_log()}"
                    ) from error
                time.sleep(0.05)


def _require(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise ClusterSetupError(f"{what} failed (exit {done.returncode}):\n{done.stderr}")
