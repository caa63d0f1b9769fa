"""Throwaway PostgreSQL clusters for tests: backout's own local clusters, set up for testing.

Each cluster (backout.db.local_cluster.LocalCluster) listens on 127.0.0.1 at a free port and
trusts every local connection; for the tests it also archives its WAL into `archive_dir` (for
point-in-time restore tests) and skips fsync. initdb refuses to run as root, so under root the
cluster belongs to an unprivileged system user, created on first use.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backout.db.cluster import free_port, give_to, run_tool
from backout.db.local_cluster import ClusterSetupError, LocalCluster, find_bindir

__all__ = ["PostgresCluster", "PostgresSetupError", "find_bindir", "free_port", "start_cluster"]

CLUSTER_OS_USER = "backout-test"
_USERADD_LOCK = Path(tempfile.gettempdir()) / "backout-test-useradd.lock"

PostgresSetupError = ClusterSetupError


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
class PostgresCluster(LocalCluster):
    """A local cluster that copies every finished WAL segment into `archive_dir`."""

    @property
    def archive_dir(self) -> Path:
        """Where `archive_command` copies every finished WAL segment."""
        return self.root / "archive"

    def initdb(self) -> None:
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        give_to(self.archive_dir, self.owner)
        self.settings = {
            "fsync": "off",
            "synchronous_commit": "off",
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": f"'test ! -f {self.archive_dir}/%f && cp %p {self.archive_dir}/%f'",
            "max_wal_senders": "4",
            **self.settings,
        }
        super().initdb()


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


def run_as(owner: str | None, argv: Sequence[str | Path]) -> subprocess.CompletedProcess[str]:
    """Run `argv` as `owner` (with that user's groups only), or as ourselves when owner is None."""
    return run_tool(argv, user=owner)
