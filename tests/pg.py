"""Throwaway PostgreSQL clusters for tests: initdb + pg_ctl in a temp folder, loopback only.

Each cluster listens on 127.0.0.1 at a free port, keeps its unix socket in its own folder,
archives its WAL into `archive_dir` (for point-in-time restore tests) and trusts every local
connection; its superuser is `postgres`. initdb refuses to run as root, so under root the
cluster belongs to an unprivileged system user, created on first use.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")
BINDIR_ENV = "BACKOUT_PG_BINDIR"
CLUSTER_OS_USER = "backout-test"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_ATTEMPTS = 3
READY_TIMEOUT_S = 30.0
_USERADD_LOCK = Path(tempfile.gettempdir()) / "backout-test-useradd.lock"


class PostgresSetupError(RuntimeError):
    """The test cluster could not be created or started; the message carries the server log."""


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


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def cluster_owner() -> str | None:
    """The OS user owning clusters: `backout-test` under root (created if missing), else None."""
    if os.geteuid() != 0:
        return None
    # Several xdist workers may get here at once; useradd itself fails on a busy /etc/passwd lock.
    with _USERADD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _user_exists(CLUSTER_OS_USER):
            _create_system_user(CLUSTER_OS_USER)
    return CLUSTER_OS_USER


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _create_system_user(name: str) -> None:
    done = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 and not _user_exists(name):
        raise PostgresSetupError(f"could not create the system user {name!r}: {done.stderr}")


@dataclass
class PostgresCluster:
    """One initialised cluster in `root`; `start()` it, `stop()` it, `destroy()` it."""

    root: Path
    bindir: Path
    owner: str | None
    port: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def archive_dir(self) -> Path:
        """Where `archive_command` copies every finished WAL segment."""
        return self.root / "archive"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def _settings_file(self) -> Path:
        return self.data_dir / "backout-test.conf"

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
        return run_as(self.owner, argv, cwd=self.root)

    def initdb(self) -> None:
        for folder in (self.root, self.socket_dir, self.archive_dir):
            folder.mkdir(parents=True, exist_ok=True)
            _give_to(folder, self.owner)
        done = self.run_as_owner(
            [
                self.tool("initdb"),
                "--pgdata",
                self.data_dir,
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
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
                    self.tool("pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    str(int(READY_TIMEOUT_S)),
                    "-D",
                    self.data_dir,
                    "-l",
                    self.log_file,
                ]
            )
            if done.returncode == 0:
                self._wait_until_accepting()
                return
            if attempt == START_ATTEMPTS or "Address already in use" not in self.server_log():
                raise PostgresSetupError(
                    f"pg_ctl start failed:\n{done.stderr}\n{self.server_log()}"
                )

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions); a stopped cluster is left as it is."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        done = self.run_as_owner(
            [self.tool("pg_ctl"), "stop", "-m", "fast", "-w", "-D", self.data_dir]
        )
        if done.returncode != 0:
            self.run_as_owner(
                [self.tool("pg_ctl"), "stop", "-m", "immediate", "-w", "-D", self.data_dir]
            )

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
        """Drop a database even if a test left connections open to it."""
        with psycopg.connect(self.conninfo(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _write_settings(self) -> None:
        archive = self.archive_dir
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": f"'test ! -f {archive}/%f && cp %p {archive}/%f'",
            "max_wal_senders": "4",
            "max_connections": "50",
            "shared_buffers": "32MB",
        }
        self._settings_file.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        _give_to(self._settings_file, self.owner)

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2) as probe:
                    probe.execute("SELECT 1")
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise PostgresSetupError(
                        f"cluster on port {self.port} not accepting connections: {error}\n"
                        f"{self.server_log()}"
                    ) from error
                time.sleep(0.05)


def start_cluster(bindir: Path, *, parent: Path | None = None) -> PostgresCluster:
    """Create and start a new cluster in a fresh temp folder; `destroy()` it when done.

    `parent` must be reachable by the cluster's OS user (pytest's tmp_path under root is not),
    so the default is the system temp folder.
    """
    root = Path(tempfile.mkdtemp(prefix="backout-pg-", dir=parent))
    cluster = PostgresCluster(root=root, bindir=bindir, owner=cluster_owner())
    try:
        cluster.initdb()
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster


def run_as(
    owner: str | None, argv: Sequence[str | Path], *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `argv` as `owner` (with that user's groups only), or as ourselves when owner is None."""
    command = [str(arg) for arg in argv]
    if owner is None:
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    account = pwd.getpwnam(owner)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        env=_owner_env(account),
    )


def _owner_env(account: pwd.struct_passwd) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "TZ"}}
    return {**keep, "HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name}


def _give_to(path: Path, owner: str | None) -> None:
    if owner is not None:
        account = pwd.getpwnam(owner)
        os.chown(path, account.pw_uid, account.pw_gid)


def _require(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise PostgresSetupError(f"{what} failed (exit {done.returncode}):\n{done.stderr}")
