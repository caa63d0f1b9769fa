"""`backout db setup` against a real cluster: settings compared in their own units, and a restart
asked for only where a setting is not yet in effect."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from backup_support import reachable_dir, require_bindir

from tests.pg import PostgresCluster, start_cluster

pytestmark = pytest.mark.postgres

BACKOUT = str(Path(sys.executable).with_name("backout"))


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    pg = start_cluster(require_bindir())
    yield pg
    pg.destroy()


@pytest.fixture
def config(cluster: PostgresCluster) -> Iterator[Path]:
    folder = reachable_dir("backout-setup-")
    main = {
        "url": cluster.conninfo(),
        "cluster": {
            "data_dir": str(cluster.data_dir),
            "bindir": str(cluster.bindir),
            "os_user": cluster.owner,
        },
        "backup": {"type": "pgbackrest", "repository": "repo", "archive_timeout": "5s"},
    }
    data = {
        "project": "setup",
        "state": {"database": "sqlite:///state.db", "directory": "."},
        "databases": {"main": main},
    }
    path = folder / "backout.yaml"
    path.write_text(yaml.safe_dump(data))
    yield path
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def setup(config: Path, *args: str) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [BACKOUT, "db", "setup", "main", *args, "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return {s["name"]: s for s in json.loads(done.stdout)}


def alter_system(cluster: PostgresCluster, setting: str, value: str) -> None:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as connection:
        connection.execute(f"ALTER SYSTEM SET {setting} = '{value}'")


def test_settings_compare_in_their_units_and_a_restart_is_asked_only_where_needed(
    cluster: PostgresCluster, config: Path
) -> None:
    alter_system(cluster, "archive_mode", "off")
    cluster.restart()

    before = setup(config)

    assert before["archive_mode"] | {"wanted": "on"} == {
        "name": "archive_mode",
        "wanted": "on",
        "current": "off",
        "ok": False,
        "needs_restart": True,
        "pending_restart": False,
    }
    assert before["wal_level"]["ok"], "replica is already in effect"
    assert not before["wal_level"]["needs_restart"], "nothing to restart for"
    assert not before["archive_timeout"]["ok"]

    applied = setup(config, "--apply")

    assert applied["archive_timeout"]["current"] == "5s"
    assert applied["archive_timeout"]["ok"], "5s in effect is the 5s wanted"
    assert applied["archive_command"]["current"] == "(disabled)", "until archive_mode is on"
    assert [n for n, s in applied.items() if s["needs_restart"]] == ["archive_mode"]
    assert applied["archive_mode"]["pending_restart"]

    cluster.restart()
    after = setup(config)

    assert all(s["ok"] for s in after.values()), after
    assert not any(s["needs_restart"] or s["pending_restart"] for s in after.values())


def auto_conf(cluster: PostgresCluster) -> list[tuple[str, str]]:
    """What ALTER SYSTEM has written (postgresql.auto.conf), read as a superuser."""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%auto.conf'"
            " ORDER BY name"
        ).fetchall()
    return [(str(name), str(value)) for name, value in rows]


def test_apply_by_a_role_that_may_not_set_them_is_refused_before_anything_changes(
    cluster: PostgresCluster, config: Path
) -> None:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as connection:
        connection.execute("CREATE ROLE app LOGIN CREATEDB")
    data = yaml.safe_load(config.read_text())
    data["databases"]["main"]["url"] = psycopg.conninfo.make_conninfo(
        cluster.conninfo(), user="app"
    )
    config.write_text(yaml.safe_dump(data))
    before = auto_conf(cluster)

    done = subprocess.run(
        [BACKOUT, "db", "setup", "main", "--apply", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    error = json.loads(done.stdout)["error"]
    assert "its role may not set wal_level, archive_mode" in error["message"]
    assert " or reload the configuration" in error["message"]
    assert error["message"].endswith("nothing was changed")
    assert "ALTER SYSTEM SET" in error["hint"]
    assert "SELECT pg_reload_conf();" in error["hint"]
    assert auto_conf(cluster) == before
