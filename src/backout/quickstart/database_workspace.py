"""The database quickstart's workspace: the demo repository, a throwaway PostgreSQL cluster
archiving its WAL through pgBackRest, and a backout.yaml naming both."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backout.atomic import write_text_atomic
from backout.db.backup import BackupError
from backout.db.cluster import check_reachable
from backout.db.local_cluster import LocalCluster, require_bindir
from backout.demo import (
    DATABASE_URL_ENV,
    EXTRA_LATENCY_ENV,
    FAULT_RATE_ENV,
    MIGRATIONS_DIR,
    create_demo_repo,
)
from backout.errors import RefusedError, UnavailableError
from backout.quickstart.workspace import SERVICE, Workspace, demo_config, free_port

DATABASE = "main"
DBNAME = "badminton"
ARCHIVE_TIMEOUT = "10s"  # what archiving alone may lose; well inside the 1-minute objective
CLUSTER_OS_USER = "postgres"  # the account PostgreSQL's Debian packages create
NO_BOOKING_AFTER_ITS_SESSION = (
    "SELECT NOT EXISTS (SELECT 1 FROM bookings b JOIN court_sessions s ON s.id = b.session_id "
    "WHERE b.created_at >= s.starts_at)"
)


@dataclass(frozen=True)
class DatabaseWorkspace:
    app: Workspace
    cluster: LocalCluster

    @property
    def path(self) -> Path:
        return self.app.path


def create_database_workspace(path: Path | None) -> DatabaseWorkspace:
    """The folder, the repository, the cluster (started, not archiving yet) and the config."""
    bindir = require_bindir()
    if shutil.which("pgbackrest") is None:
        raise UnavailableError(
            "pgBackRest is not installed here", hint="install it: apt-get install pgbackrest"
        )
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="backout-quickstart-db-"))
    path = path.resolve()
    owner = _cluster_owner()
    try:
        check_reachable(path, owner)
    except BackupError as unreachable:
        raise RefusedError(
            unreachable.message, hint="choose a workspace under /tmp (the default)"
        ) from None
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)  # the cluster's OS user reaches its data and the repository through it
    repo = create_demo_repo(path / "badminton-app")
    cluster = LocalCluster(path / "postgres", bindir, owner)
    cluster.initdb()
    cluster.start()
    cluster.create_database(DBNAME)
    port = free_port()
    config_file = path / "backout.yaml"
    text = "# Written by `backout quickstart --scenario database`: the demo app on PostgreSQL.\n"
    text += yaml.safe_dump(_config(repo.path, cluster, port), sort_keys=False)
    write_text_atomic(config_file, text)
    return DatabaseWorkspace(Workspace(path, config_file, repo, port), cluster)


def _cluster_owner() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(CLUSTER_OS_USER)
    except KeyError:
        raise UnavailableError(
            "running as root, and there is no 'postgres' account to run the cluster as "
            "(initdb refuses root)",
            hint="install postgresql-15 (it creates the account), or run as another user",
        ) from None
    return CLUSTER_OS_USER


def _config(repo_dir: Path, cluster: LocalCluster, port: int) -> dict[str, Any]:
    config = demo_config(repo_dir, repo_dir.parent / "data", port)
    config["project"] = "badminton-group (quickstart, database)"
    service = config["services"][SERVICE]
    service["driver"]["env"] = {
        DATABASE_URL_ENV: cluster.url(DBNAME),
        FAULT_RATE_ENV: "0",  # this story is about data: the release's slow path stays off
        EXTRA_LATENCY_ENV: "0",
    }
    service["database"] = DATABASE
    config["databases"] = {
        DATABASE: {
            "url": cluster.conninfo(DBNAME),
            "data_class": "transactional",
            "cluster": {"data_dir": str(cluster.data_dir), "bindir": str(cluster.bindir)}
            | ({"os_user": cluster.owner} if cluster.owner else {}),
            "backup": {
                "type": "pgbackrest",
                "repository": "pgbackrest-repo",
                "archive_timeout": ARCHIVE_TIMEOUT,
            },
            "migrations": {
                "type": "alembic",
                "script_location": f"{repo_dir.name}/{MIGRATIONS_DIR}",
            },
            "integrity": {
                "assertions": [
                    {
                        "name": "every booking was made before its session starts",
                        "sql": NO_BOOKING_AFTER_ITS_SESSION,
                    }
                ],
                "recent": {"tokens": "created_at"},
            },
        }
    }
    return config
