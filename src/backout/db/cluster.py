"""Running PostgreSQL's programs as the cluster's owner, and side clusters for restores.

A data directory belongs to one operating-system user and PostgreSQL refuses to run as root, so
anything touching it (pg_ctl, pgbackrest, pg_controldata) runs as that user when backout runs as
root, and as backout itself otherwise.

`SideCluster.start(data_dir, bindir, os_user)` starts a restored data directory beside the live
cluster: on a free loopback port, with its own socket folder and log, never archiving (its WAL
must not reach the live cluster's repository) and never waiting for a synchronous standby. It
returns once recovery has finished — the target reached and the server promoted — or raises
BackupError with the server's own words when recovery fails.

`throwaway=True` is for a side cluster only read once and then deleted (a table restore's):
nothing it writes needs to survive a crash, so it never fsyncs, writes no full-page images,
runs no autovacuum, and stops with `-m immediate` (no shutdown checkpoint). Its shared_buffers
is PostgreSQL's default rather than the live cluster's, which may be most of the machine.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg.conninfo import make_conninfo

from backout.db.backup.base import BackupError
from backout.db.connection import Database
from backout.errors import UnavailableError

HOST = "127.0.0.1"
START_ATTEMPTS = 3
STOP_TIMEOUT_S = 60
_POLL_S = 0.1
_THROWAWAY_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "autovacuum": "off",
    "shared_buffers": "128MB",
}
_LOGIN_REFUSED = ("password authentication failed", "does not exist", "no pg_hba.conf entry")
_INSTALL_HINTS = {
    "pgbackrest": "install it: apt-get install pgbackrest",
    "pg_receivewal": "install PostgreSQL's client programs (apt-get install postgresql-15)",
}


def os_user_for(data_dir: Path, configured: str | None = None) -> str | None:
    """Whom to run the cluster's programs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    if configured:
        return configured
    try:
        owner = pwd.getpwuid(data_dir.stat().st_uid).pw_name
    except (OSError, KeyError):
        return None
    return None if owner == "root" else owner


def run_tool(
    argv: Sequence[str | Path],
    *,
    user: str | None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a program as `user` (or ourselves); a missing program is an UnavailableError."""
    command = [str(arg) for arg in argv]
    switch = _account(user)
    base_env = dict(os.environ) if switch is None else _minimal_env(switch)
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**base_env, **(env or {})},
            cwd="/" if switch else None,
            user=switch.pw_uid if switch else None,
            group=switch.pw_gid if switch else None,
            extra_groups=[] if switch else None,
        )
    except FileNotFoundError:
        tool = Path(command[0]).name
        raise UnavailableError(
            f"{tool} is not installed here ({command[0]} not found)",
            hint=_INSTALL_HINTS.get(tool, "check the bindir setting"),
        ) from None
    except subprocess.TimeoutExpired:
        raise BackupError(
            f"{Path(command[0]).name} did not finish within {timeout:g}s", retryable=True
        ) from None


def _account(user: str | None) -> pwd.struct_passwd | None:
    if user is None or os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise BackupError(f"the operating-system user {user!r} does not exist") from None
    return None if account.pw_uid == 0 else account


def _minimal_env(account: pwd.struct_passwd) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "TZ"}}
    return {**keep, "HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name}


def give_to(path: Path, user: str | None) -> None:
    """Make `path` belong to `user` (only possible, and only needed, as root)."""
    account = _account(user)
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid)


def check_reachable(path: Path, user: str | None) -> None:
    """BackupError unless `user` may enter every folder above `path` (pytest's tmp is 0700)."""
    account = _account(user)
    if account is None:
        return
    for folder in reversed(path.resolve().parents):
        info = folder.stat()
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == account.pw_gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            raise BackupError(
                f"{path} is out of reach of the cluster's user {user!r}: it may not enter "
                f"{folder} (mode {stat.filemode(info.st_mode)})",
                hint=f"keep backout's state and repository folders where {user!r} can reach them",
            )


def server_settings(database: Database, names: Sequence[str]) -> dict[str, str]:
    """The named settings of the running server (those the role may read)."""
    try:
        with database.connect() as connection:
            rows = connection.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(names),)
            ).fetchall()
    except psycopg.Error as error:
        raise BackupError(f"cannot read the settings of {database.name!r}: {error}") from None
    return {str(name): str(value) for name, value in rows}


def tail(path: Path, lines: int = 20) -> str:
    """The end of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class SideCluster:
    """A restored data directory running beside the live cluster; `stop()` it when done."""

    data_dir: Path
    bindir: Path
    os_user: str | None
    runtime_dir: Path  # socket and server log; removed by stop()
    port: int
    user: str
    password: str | None = None
    throwaway: bool = False

    @classmethod
    def start(
        cls,
        data_dir: Path,
        bindir: Path,
        os_user: str | None = None,
        *,
        user: str = "postgres",
        password: str | None = None,
        timeout: float = 3600.0,
        throwaway: bool = False,
    ) -> SideCluster:
        """Start it on a free port and return once recovery has ended (the server promoted).

        `user` (and `password`) is the role to connect as: a role of the restored cluster,
        usually the live database's own. `timeout` bounds the whole recovery. `throwaway`:
        see the module.
        """
        runtime = Path(tempfile.mkdtemp(prefix="backout-side-"))
        runtime.chmod(0o755)
        give_to(runtime, os_user)
        side = cls(data_dir, bindir, os_user, runtime, 0, user, password, throwaway)
        try:
            side._start_server(timeout)
            side._wait_for_promotion(time.monotonic() + timeout)
        except BaseException:
            side.stop()
            raise
        return side

    @property
    def socket_dir(self) -> Path:
        return self.runtime_dir

    @property
    def log_file(self) -> Path:
        return self.runtime_dir / "server.log"

    def database(self, dbname: str = "postgres") -> Database:
        """A database of the side cluster, reached over loopback TCP."""
        params = {"host": HOST, "port": str(self.port), "dbname": dbname, "user": self.user}
        if self.password is not None:
            params["password"] = self.password
        return Database(f"side:{dbname}", make_conninfo(**params))

    def running(self) -> bool:
        done = run_tool([self.bindir / "pg_ctl", "status", "-D", self.data_dir], user=self.os_user)
        return done.returncode == 0

    def stop(self) -> None:
        """Fast shutdown (immediate if that fails, or at once when throwaway), then remove the
        socket folder and log."""
        try:
            if (self.data_dir / "postmaster.pid").exists() and not self.throwaway:
                self._pg_ctl_stop("fast")
            if (self.data_dir / "postmaster.pid").exists():
                self._pg_ctl_stop("immediate")
        finally:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self) -> SideCluster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _pg_ctl_stop(self, mode: str) -> None:
        argv: list[str | Path] = [self.bindir / "pg_ctl", "stop", "-m", mode, "-w"]
        run_tool([*argv, "-t", str(STOP_TIMEOUT_S), "-D", self.data_dir], user=self.os_user)

    def _start_server(self, timeout: float) -> None:
        self._write_side_settings()
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = free_port()
            done = run_tool(
                [
                    self.bindir / "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-D",
                    self.data_dir,
                    "-l",
                    self.log_file,
                    "-o",
                    f"-p {self.port}",
                ],
                user=self.os_user,
            )
            if done.returncode == 0:
                return
            port_taken = "Address already in use" in tail(self.log_file, 50)
            if attempt == START_ATTEMPTS or not port_taken:
                raise BackupError(
                    f"the restored cluster in {self.data_dir} did not start: "
                    f"{_server_words(self.log_file) or done.stderr.strip()}",
                    hint=f"its log:\n{tail(self.log_file)}",
                )

    def _write_side_settings(self) -> None:
        # postgresql.auto.conf is read last, so these win over the live cluster's own settings.
        settings = {
            "listen_addresses": HOST,
            "unix_socket_directories": str(self.socket_dir),
            "archive_mode": "off",
            "synchronous_standby_names": "",
            "hot_standby": "on",
            **(_THROWAWAY_SETTINGS if self.throwaway else {}),
        }
        auto_conf = self.data_dir / "postgresql.auto.conf"
        lines = "".join(f"{k} = '{v}'\n" for k, v in settings.items())
        with auto_conf.open("a", encoding="utf-8") as handle:
            handle.write("\n# backout side cluster: never archives, never waits for a standby\n")
            handle.write(lines)

    def _wait_for_promotion(self, deadline: float) -> None:
        conninfo = self.database().conninfo
        while True:
            try:
                with psycopg.connect(conninfo, connect_timeout=5, autocommit=True) as probe:
                    row = probe.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and row[0] is False:
                    return
            except psycopg.OperationalError as error:
                if not (self.data_dir / "postmaster.pid").exists():
                    raise self._recovery_failed() from None
                if any(words in str(error) for words in _LOGIN_REFUSED):
                    raise BackupError(
                        f"cannot log in to the restored cluster as {self.user!r}: {error}"
                    ) from None
            if not (self.data_dir / "postmaster.pid").exists():
                raise self._recovery_failed()
            if time.monotonic() > deadline:
                raise BackupError(
                    f"recovery of {self.data_dir} did not finish in time",
                    hint=f"its log:\n{tail(self.log_file)}",
                )
            time.sleep(_POLL_S)

    def _recovery_failed(self) -> BackupError:
        return BackupError(
            f"recovery of {self.data_dir} failed: {_server_words(self.log_file)}",
            hint=f"its log:\n{tail(self.log_file)}",
        )


def _server_words(log_file: Path) -> str:
    """The server's FATAL/PANIC lines: why it stopped."""
    lines = tail(log_file, 200).splitlines()
    fatal = [line for line in lines if "FATAL:" in line or "PANIC:" in line]
    return "; ".join(line.split(":  ", 1)[-1].strip() for line in fatal[-2:])


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
