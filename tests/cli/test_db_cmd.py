"""`backout db setup|backup|backups|verify` against a real PostgreSQL database (pg_dump engine)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from backout.actions.backups import take_backup
from backout.operations.database import list_backups
from backout.store import Run, SubjectLock
from tests.cli.conftest import Backout, cli_environment, fake_service

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(backout: Backout, postgres_url: str, tmp_path: Path) -> Backout:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE members (id serial PRIMARY KEY, email text NOT NULL);"
            "CREATE TABLE bookings (id serial PRIMARY KEY, member_id int REFERENCES members,"
            " created_at timestamptz NOT NULL DEFAULT now());"
            "INSERT INTO members (email) SELECT 'm' || i || '@example.com' FROM generate_series(1, 5) i;"
            "INSERT INTO bookings (member_id) SELECT 1 + i % 5 FROM generate_series(1, 12) i;"
        )
    data = {
        "project": "db-cli",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "services": {"api": fake_service()},
        "databases": {
            "main": {
                "url": conninfo,
                "backup": {"type": "pg_dump", "repository": "backups/main"},
                "integrity": {
                    "assertions": [
                        {
                            "name": "every booking has a member",
                            "sql": "SELECT bool_and(member_id IS NOT NULL) FROM bookings",
                        }
                    ],
                    "recent": {"bookings": "created_at"},
                },
            },
            "gone": {"url": "postgresql://nobody@127.0.0.1:1/nothing"},
        },
    }
    backout.config.write_text(yaml.safe_dump(data))
    backout.env = cli_environment()
    return backout


def test_a_backup_is_taken_listed_and_counted(db: Backout, tmp_path: Path) -> None:
    taken = db("db", "backup", "main", "--json")
    assert taken.code == 0, taken
    backup = taken.json()
    assert backup["kind"] == "logical"
    assert backup["row_counts"] == {"public.members": 5, "public.bookings": 12}
    assert Path(backup["location"]).is_file()
    assert str(tmp_path / "backups" / "main") in backup["location"]
    [listed] = db("db", "backups", "main", "--json").json()
    assert listed["id"] == backup["id"]
    assert listed["taken_by"] == "alice@test"
    assert listed["row_counts"] == backup["row_counts"]


def test_verify_compares_with_the_newest_backup_and_passes(db: Backout) -> None:
    db.ok("db", "backup", "main")
    report = db("db", "verify", "main", "--json")
    assert report.code == 0, report
    body = report.json()
    assert body["ok"] is True
    assert body["reference_backup"] is not None


def test_verify_exits_1_naming_a_failing_assertion(db: Backout, postgres_url: str) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("INSERT INTO bookings (member_id) VALUES (NULL)")
    report = db("db", "verify", "main")
    assert report.code == 1, report
    assert "every booking has a member" in report.stdout


def test_pg_dump_needs_no_server_settings(db: Backout) -> None:
    assert db("db", "setup", "main", "--json").json() == []


def test_an_unknown_database_lists_the_known_ones(db: Backout) -> None:
    db("db", "backup", "nope").refused(4, "unknown database 'nope'", "gone, main")


def test_an_unreachable_database_is_a_message_and_exit_8(db: Backout) -> None:
    db("db", "verify", "gone").refused(8, "database 'gone'", "is not reachable")


def test_a_restore_lands_beside_the_live_data_and_keeps_what_it_lacks(
    db: Backout, postgres_url: str
) -> None:
    backup_id = db("db", "backup", "main", "--json").json()["id"]
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("INSERT INTO bookings (member_id) SELECT 2 FROM generate_series(1, 3)")
    done = db("db", "restore", "main", "--backup", backup_id, "--json")
    assert done.code == 0, done
    steps = {s["kind"]: s for s in done.json()["steps"]}
    assert [s["state"] for s in steps.values()] == ["succeeded"] * 3
    assert (
        "3 write(s) after the target the restore does not have (3 inserted"
        in steps["db_lost_writes"]["message"]
    )
    report = Path(steps["db_lost_writes"]["message"].rsplit("kept in ", 1)[1])
    assert (report / "replay.sql").is_file()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        live = connection.execute("SELECT count(*) FROM bookings").fetchone()
        restored_name = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (conninfo.rsplit("/", 1)[1] + "_restored_run%",),
        ).fetchone()
    assert live == (15,), "the live data is never touched"
    assert restored_name is not None
    with psycopg.connect(conninfo.rsplit("/", 1)[0] + "/" + restored_name[0]) as connection:
        assert connection.execute("SELECT count(*) FROM bookings").fetchone() == (12,)


def test_a_logical_backup_cannot_go_to_a_time(db: Backout) -> None:
    db.ok("db", "backup", "main")
    done = db("db", "restore", "main", "--to-time", "2026-01-01T00:00:00+00:00")
    assert done.code == 1, done
    assert "logical backups restore only to the moment they were taken" in done.stdout + done.stderr
    assert db("db", "copies", "main", "--json").json() == [], "no empty copy is left"


def test_an_unknown_backup_is_refused_before_any_run_or_database_exists(
    db: Backout, postgres_url: str
) -> None:
    [backup_id] = take_backups(db, 1)

    done = db("db", "restore", "main", "--backup", "20990101-000000-0000")

    done.refused(4, "no backup '20990101-000000-0000' in the repository", backup_id)
    assert db("runs", "--json").json() == []
    assert db("db", "copies", "main", "--json").json() == []
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    live_name = conninfo.rsplit("/", 1)[1]
    with psycopg.connect(conninfo) as connection:
        left = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{live_name}_restored%",)
        ).fetchall()
    assert left == []


def test_a_restore_killed_after_its_first_step_is_finished_by_resume(
    db: Backout, postgres_url: str
) -> None:
    backup_id = db("db", "backup", "main", "--json").json()["id"]
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("INSERT INTO bookings (member_id) SELECT 3 FROM generate_series(1, 2)")
    killed = db.with_env(BACKOUT_FAILPOINTS="executor.after_step=1")(
        "db", "restore", "main", "--backup", backup_id
    )
    assert killed.code == -9, killed
    resumed = db("resume")
    assert resumed.code == 0, resumed
    [run] = [r for r in db("runs", "--json").json() if r["kind"] == "database"]
    steps = db("run", "show", str(run["id"]), "--json").json()["steps"]
    assert [(s["kind"], s["state"], s["attempts"]) for s in steps] == [
        ("db_restore", "succeeded", 1),  # done before the kill: not done again
        ("db_lost_writes", "succeeded", 1),
        ("db_verify", "succeeded", 1),
    ]
    assert (
        "2 write(s) after the target the restore does not have (2 inserted" in steps[1]["message"]
    )
    with psycopg.connect(conninfo) as connection:
        assert connection.execute("SELECT count(*) FROM bookings").fetchone() == (14,)


def bookings_in(conninfo: str, dbname: str | None = None) -> int:
    target = conninfo if dbname is None else conninfo.rsplit("/", 1)[0] + "/" + dbname
    with psycopg.connect(target) as connection:
        row = connection.execute("SELECT count(*) FROM bookings").fetchone()
    assert row is not None
    return int(row[0])


def add_bookings(conninfo: str, count: int) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO bookings (member_id) SELECT 2 FROM generate_series(1, %s)", (count,)
        )


def test_in_place_replaces_the_live_data_after_a_checked_backup_and_keeps_the_old_data(
    db: Backout, postgres_url: str
) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    live_name = conninfo.rsplit("/", 1)[1]
    backup_id = db("db", "backup", "main", "--json").json()["id"]
    add_bookings(conninfo, 3)
    done = db("db", "restore", "main", "--backup", backup_id, "--in-place", "--yes", "--json")
    assert done.code == 0, done
    steps = {s["kind"]: s for s in done.json()["steps"]}
    assert list(steps) == ["db_restore", "db_backup", "db_switch", "db_lost_writes", "db_verify"]
    assert all(s["state"] == "succeeded" for s in steps.values()), steps
    assert "checked (" in steps["db_backup"]["message"]
    location = steps["db_backup"]["message"].split(" at ", 1)[1].split(", checked")[0]
    assert (db.config.parent / location).exists()
    assert bookings_in(conninfo) == 12, "the live database now holds the backup's data"
    kept = f"{live_name}_before_restore_run1"
    assert bookings_in(conninfo, kept) == 15, "the data as it was is kept whole"
    assert (
        "3 write(s) after the target the restore does not have (3 inserted"
        in steps["db_lost_writes"]["message"]
    )
    copies = db("db", "copies", "main", "--json").json()
    assert [(c["kind"], c["where"]) for c in copies] == [("kept database", kept)], (
        "the live database, which a run put there, is no copy"
    )


def test_in_place_without_yes_is_refused_and_changes_nothing(
    db: Backout, postgres_url: str
) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    backup_id = db("db", "backup", "main", "--json").json()["id"]
    add_bookings(conninfo, 3)
    done = db("db", "restore", "main", "--backup", backup_id, "--in-place")
    assert done.code == 9, done  # not confirmed, as every command that asks
    assert "--yes" in done.stderr
    assert bookings_in(conninfo) == 15
    assert [r for r in db("runs", "--json").json() if r["kind"] == "database"] == []


def test_into_lands_as_the_named_database_and_leaves_the_live_one(
    db: Backout, postgres_url: str
) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    backup_id = db("db", "backup", "main", "--json").json()["id"]
    add_bookings(conninfo, 2)
    done = db("db", "restore", "main", "--backup", backup_id, "--into", "main_as_it_was")
    assert done.code == 0, done
    assert re.search(
        r"restored in \d+\.\ds; data-loss window [\d.]+s, within the 60s RPO objective",
        done.stdout,
    ), done
    try:
        assert bookings_in(conninfo, "main_as_it_was") == 12
        assert bookings_in(conninfo) == 14
        [copy] = db("db", "copies", "main", "--json").json()
        assert (copy["run_id"], copy["kind"], copy["where"]) == (
            1,
            "restored database",
            "main_as_it_was",
        )
        assert db("db", "remove-copy", "main", "1", "--yes").code == 0
        assert db("db", "copies", "main", "--json").json() == []
        with psycopg.connect(conninfo) as connection:
            assert connection.execute(
                "SELECT count(*) FROM pg_database WHERE datname = 'main_as_it_was'"
            ).fetchone() == (0,)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS main_as_it_was")


def test_into_an_existing_database_backout_did_not_create_is_refused(
    db: Backout, postgres_url: str
) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    backup_id = db("db", "backup", "main", "--json").json()["id"]
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS someone_elses")
        connection.execute("CREATE DATABASE someone_elses")
    try:
        done = db("db", "restore", "main", "--backup", backup_id, "--into", "someone_elses")
        assert done.code == 1, done
        assert "'someone_elses' already exists" in done.stdout + done.stderr
        assert "the live data is as it was: nothing was written to it" in done.stdout
        with psycopg.connect(conninfo.rsplit("/", 1)[0] + "/someone_elses") as connection:
            assert connection.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone() == (0,)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS someone_elses")


def test_an_in_place_restore_killed_before_the_switch_is_finished_by_resume(
    db: Backout, postgres_url: str
) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    backup_id = db("db", "backup", "main", "--json").json()["id"]
    add_bookings(conninfo, 4)
    killed = db.with_env(BACKOUT_FAILPOINTS="executor.after_step=2")(
        "db", "restore", "main", "--backup", backup_id, "--in-place", "--yes"
    )
    assert killed.code == -9, killed
    assert bookings_in(conninfo) == 16, "killed before the switch: the live data is as it was"
    resumed = db("resume")
    assert resumed.code == 0, resumed
    [run] = [r for r in db("runs", "--json").json() if r["kind"] == "database"]
    steps = db("run", "show", str(run["id"]), "--json").json()["steps"]
    assert [(s["kind"], s["state"], s["attempts"]) for s in steps] == [
        ("db_restore", "succeeded", 1),
        ("db_backup", "succeeded", 1),
        ("db_switch", "succeeded", 1),
        ("db_lost_writes", "succeeded", 1),
        ("db_verify", "succeeded", 1),
    ]
    assert bookings_in(conninfo) == 12
    assert (
        "4 write(s) after the target the restore does not have (4 inserted" in steps[3]["message"]
    )


def retention(db: Backout, **backup: Any) -> None:
    data = yaml.safe_load(db.config.read_text())
    data["databases"]["main"]["backup"].update(backup)
    db.config.write_text(yaml.safe_dump(data))


def take_backups(db: Backout, count: int) -> list[str]:
    """Backups of `main` taken in-process, as `backout db backup main` takes them."""
    with db.runtime() as runtime:
        return [take_backup(runtime, "main", kind=None, actor="ci")[0].id for _ in range(count)]


def backup_ids(db: Backout) -> list[str]:
    with db.runtime() as runtime:
        return [b["id"] for b in list_backups(runtime, "main")]


def test_backups_expire_only_when_asked_and_only_past_the_retention(db: Backout) -> None:
    retention(db, keep=1, recovery_window="0s")
    taken = take_backups(db, 2)
    taken.append(db("db", "backup", "main", "--json").json()["id"])

    assert backup_ids(db) == taken, "a backup never expires another"
    db("db", "expire", "main").refused(9, "needs confirmation", "--yes")
    assert db("db", "expire", "main", "--dry-run", "--json").json()["expired"] == taken[:2]
    assert backup_ids(db) == taken

    expired = db("db", "expire", "main", "--yes")

    assert expired.code == 0, expired
    assert f"deleted 2 backup(s): {taken[0]}, {taken[1]}" in expired.stdout
    assert backup_ids(db) == taken[2:]
    assert "nothing to expire" in db("db", "expire", "main", "--yes").stdout


def test_backups_never_expire_while_a_run_of_the_database_is_going(db: Backout) -> None:
    retention(db, keep=1, recovery_window="0s")
    taken = take_backups(db, 2)
    with db.runtime() as runtime, runtime.store.session() as session:
        run = Run(
            environment=runtime.environment,
            kind="database",
            service="database:main",
            reason="a restore reading the backups",
            state="running",
            actor="ci",
        )
        session.add(run)
        session.flush()
        run_id = run.id
        session.add(
            SubjectLock(
                environment=runtime.environment,
                subject_kind="database",
                subject_name="main",
                run_id=run_id,
            )
        )

    refused = db("db", "expire", "main", "--yes")

    refused.refused(1, f"run {run_id} of 'main' has not ended")
    assert backup_ids(db) == taken


def test_restored_copies_are_listed_and_removed_only_when_confirmed(
    db: Backout, postgres_url: str
) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    [backup_id] = take_backups(db, 1)
    assert db("db", "restore", "main", "--backup", backup_id).code == 0

    [copy] = db("db", "copies", "main", "--json").json()

    live_name = conninfo.rsplit("/", 1)[1]
    assert (copy["run_id"], copy["run_state"], copy["kind"]) == (
        1,
        "succeeded",
        "restored database",
    )
    assert copy["where"] == f"{live_name}_restored_run1"
    assert copy["port"] == int(str(conninfo_to_dict(conninfo)["port"]))
    assert copy["size_bytes"] > 0
    assert copy["age_s"] >= 0
    db("db", "remove-copy", "main", "1").refused(9, "needs confirmation", "--yes")
    db("db", "remove-copy", "main", "2", "--yes").refused(4, "run 2 left no restored copy", "1")

    removed = db("db", "remove-copy", "main", "1", "--yes")

    assert removed.code == 0, removed
    assert f"{live_name}_restored_run1" in removed.stdout
    assert db("db", "copies", "main", "--json").json() == []
    with psycopg.connect(conninfo) as connection:
        names = connection.execute("SELECT datname FROM pg_database").fetchall()
    assert (f"{live_name}_restored_run1",) not in names
