"""`backout db restore --to-time` through the real CLI, with pgBackRest and a real cluster:
the restore lands beside the live cluster, and exactly the later writes are kept aside."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from backup_support import Archiving, rows

from backout.db.cluster import run_tool

BACKOUT = str(Path(sys.executable).with_name("backout"))


def write_config(archiving: Archiving, dbname: str = "postgres") -> Path:
    pg = archiving.pg
    data = {
        "project": "pitr",
        "state": {"database": "sqlite:///backout-state.db", "directory": "."},
        "databases": {
            "main": {
                "url": pg.conninfo(dbname),
                "cluster": {
                    "data_dir": str(pg.data_dir),
                    "bindir": str(pg.bindir),
                    "os_user": pg.owner,
                },
                "backup": {"type": "pgbackrest", "repository": "repo", "archive_timeout": "60s"},
            }
        },
    }
    config = archiving.folder / "backout.yaml"
    config.write_text(yaml.safe_dump(data))
    return config


def test_a_point_in_time_restore_lands_beside_the_live_cluster(
    own_archiving: Callable[..., Archiving],
) -> None:
    archiving = own_archiving()
    config = write_config(archiving)
    table = archiving.new_table()
    archiving.insert(table, 1)
    archiving.insert(table, 2)
    target = archiving.now()
    archiving.insert(table, 3)
    archiving.archive_current_wal()

    done = subprocess.run(
        [
            BACKOUT,
            "db",
            "restore",
            "main",
            "--to-time",
            target.isoformat(),
            "--json",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    steps = {s["kind"]: s for s in json.loads(done.stdout)["steps"]}
    data_dir = archiving.folder / "restores" / "main" / "run-1"
    try:
        assert [s["state"] for s in steps.values()] == ["succeeded"] * 3, steps
        assert (
            "1 write(s) after the target the restore does not have (1 inserted"
            in steps["db_lost_writes"]["message"]
        )
        assert rows(archiving.database, table) == [1, 2, 3], "the live cluster is untouched"
        port = steps["db_restore"]["output"]["port"]
        side = archiving.database.with_dbname("postgres")
        restored = type(side)(
            "restored", side.conninfo.replace(f"port={archiving.pg.port}", f"port={port}")
        )
        assert rows(restored.with_dbname(archiving.database.dbname or "postgres"), table) == [1, 2]
        run = json.loads(backout_json(config, "run", "show", "1"))
        assert run["restore_s"] > 0
        assert run["rpo_s"] is not None
        assert run["rpo_s"] >= 0
        incident = json.loads(backout_json(config, "incident", "show", str(run["incident_id"])))
        assert incident["rpo_objective_s"] == 60  # the runbook's "transactional: < 1 minute"
        assert incident["rpo_s"] == run["rpo_s"]
        assert any(e["kind"] == "restore_measured" for e in incident["timeline"])
        [copy] = json.loads(backout_json(config, "db", "copies", "main"))
        assert (copy["run_id"], copy["kind"], copy["running"]) == (1, "side cluster", True)
        assert (copy["where"], copy["port"]) == (str(data_dir), int(port))
        assert copy["size_bytes"] > 0
        socket_dir = Path(steps["db_restore"]["output"]["socket_dir"])
        assert socket_dir.is_dir()
        backout_json(config, "db", "remove-copy", "main", "1", "--yes")
        assert not data_dir.exists(), "the side cluster's data is removed"
        assert not socket_dir.exists(), "and its socket folder"
        assert json.loads(backout_json(config, "db", "copies", "main")) == []
    finally:
        run_tool(
            [archiving.pg.bindir / "pg_ctl", "stop", "-m", "immediate", "-D", data_dir],
            user=archiving.pg.owner,
        )


def test_a_point_in_time_restore_in_place_switches_the_live_database_and_keeps_the_old(
    own_archiving: Callable[..., Archiving],
) -> None:
    archiving = own_archiving()
    shop = archiving.database.with_dbname(archiving.pg.create_database("shop"))
    config = write_config(archiving, "shop")
    with shop.connect(autocommit=True) as connection:
        connection.execute("CREATE TABLE orders (id int PRIMARY KEY)")
        connection.execute("INSERT INTO orders VALUES (1), (2)")
    target = archiving.now()
    with shop.connect(autocommit=True) as connection:
        connection.execute("INSERT INTO orders VALUES (3)")
    # No archive_current_wal(): the target is seconds old, so the restore has the live server
    # archive its current WAL segment first instead of refusing or waiting for archive_timeout.

    done = subprocess.run(
        [
            *(BACKOUT, "db", "restore", "main", "--to-time", target.isoformat()),
            *("--in-place", "--yes", "--json", "--config", str(config)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    steps = {s["kind"]: s for s in json.loads(done.stdout)["steps"]}
    assert list(steps) == [
        "db_restore",
        "db_copy_in",
        "db_backup",
        "db_switch",
        "db_lost_writes",
        "db_verify",
    ]
    assert rows(shop, "orders") == [1, 2], "the live name now holds the restored data"
    assert rows(shop.with_dbname("shop_before_restore_run1"), "orders") == [1, 2, 3]
    assert (
        "1 write(s) after the target the restore does not have (1 inserted"
        in steps["db_lost_writes"]["message"]
    )
    assert not (archiving.folder / "restores" / "main" / "run-1").exists(), "side retired"
    socket_dir = Path(steps["db_restore"]["output"]["socket_dir"])
    assert socket_dir.name.startswith("backout-side-")
    assert not socket_dir.exists(), "the run's temporary folder is removed when it ends"


def backout_json(config: Path, *args: str) -> str:
    done = subprocess.run(
        [BACKOUT, *args, "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout
