"""`backout db revert`: a schema rollback behind a backup and a restore point, gated when it loses data."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

from backout.db.backup import DbPluginContext
from backout.db.connection import Database
from backout.db.migrations.sql_files import SqlFilesAdapter, SqlFilesSettings
from tests.cli.conftest import Backout, cli_environment, fake_service

pytestmark = pytest.mark.postgres

MIGRATIONS = {
    "0001_members.up.sql": "CREATE TABLE members (id serial PRIMARY KEY, email text NOT NULL);",
    "0001_members.down.sql": "DROP TABLE members;",
    "0002_waitlist.up.sql": "ALTER TABLE members ADD COLUMN waitlist_position int;",
    "0002_waitlist.down.sql": "ALTER TABLE members DROP COLUMN waitlist_position;",
    "0003_nickname.up.sql": "ALTER TABLE members ADD COLUMN nickname text;",
    "0003_nickname.down.sql": "ALTER TABLE members DROP COLUMN nickname;",
}


@pytest.fixture
def db(backout: Backout, postgres_url: str, tmp_path: Path) -> Backout:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, text in MIGRATIONS.items():
        (folder / name).write_text(text)
    context = DbPluginContext(
        service="main",
        config_file=tmp_path / "backout.yaml",
        base_dir=tmp_path,
        state_dir=tmp_path / ".backout",
        database=Database("main", conninfo),
        cluster=None,
    )
    SqlFilesAdapter(SqlFilesSettings(directory="migrations"), context).upgrade()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO members (email, waitlist_position) SELECT 'm' || i, i FROM generate_series(1, 7) i"
        )
    data = {
        "project": "db-revert",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "services": {"api": fake_service()},
        "databases": {
            "main": {
                "url": conninfo,
                "backup": {"type": "pg_dump", "repository": "backups"},
                "migrations": {"type": "sql", "directory": "migrations"},
            }
        },
    }
    backout.config.write_text(yaml.safe_dump(data))
    backout.env = cli_environment()
    return backout


def columns(postgres_url: str) -> list[str]:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as connection:
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'members'"
            " ORDER BY ordinal_position"
        ).fetchall()
    return [str(name) for (name,) in rows]


def test_migrations_shows_the_head(db: Backout) -> None:
    status = db("db", "migrations", "main", "--json").json()
    assert status["head"] == "0003"
    assert [m["revision"] for m in status["migrations"]] == ["0001", "0002", "0003"]


def test_the_dry_run_says_what_would_be_lost_and_changes_nothing(
    db: Backout, postgres_url: str
) -> None:
    plan = db("db", "revert", "main", "--to", "0001", "--dry-run", "--json").json()
    assert plan["needs_approval"] is True
    assert "drops column members.waitlist_position (7 rows hold data)" in plan["losses"]
    assert [s["kind"] for s in plan["steps"]] == [
        "approve",
        "db_backup",
        "db_restore_point",
        "db_revert",
        "db_verify",
    ]
    assert "waitlist_position" in columns(postgres_url)


def test_a_revert_that_loses_data_waits_for_approval_then_runs(
    db: Backout, postgres_url: str
) -> None:
    waiting = db("db", "revert", "main", "--to", "0001", "--yes", "--json")
    assert waiting.code == 6, waiting
    run_id = waiting.json()["run_id"]
    assert "waitlist_position" in columns(postgres_url), "nothing changes before the approval"
    approved = db("approve", str(run_id))
    assert approved.code == 0, approved
    assert columns(postgres_url) == ["id", "email"]
    steps = db("run", "show", str(run_id), "--json").json()["steps"]
    assert [s["state"] for s in steps] == ["succeeded"] * 5
    assert "backup" in steps[1]["message"]
    assert "restore point 'backout-run-" in steps[2]["message"]
    [backup] = db("db", "backups", "main", "--json").json()
    assert backup["reason"] == "schema revert"
    assert db("db", "migrations", "main", "--json").json()["head"] == "0001"


def test_a_revert_that_loses_nothing_runs_without_a_gate(db: Backout, postgres_url: str) -> None:
    done = db("db", "revert", "main", "--to", "0002", "--yes")
    assert done.code == 0, done
    assert "nickname" not in columns(postgres_url)


def test_an_unknown_revision_lists_the_known_ones(db: Backout) -> None:
    db("db", "revert", "main", "--to", "0042", "--yes").refused(
        4, "unknown revision '0042'", "0001, 0002, 0003"
    )


def test_reverting_to_the_head_is_refused(db: Backout) -> None:
    db("db", "revert", "main", "--to", "0003", "--yes").refused(1, "already at revision '0003'")


@pytest.fixture
def service_on_db(db: Backout) -> Backout:
    data = yaml.safe_load(db.config.read_text())
    data["services"]["api"]["database"] = "main"
    db.config.write_text(yaml.safe_dump(data))
    db.ok("release", "record", "api", "1.0.0", "--status", "good", "--schema-revision", "0001")
    db.ok("release", "record", "api", "1.1.0", "--schema-revision", "0003")
    return db


def test_a_rollback_to_a_release_expecting_an_older_schema_reverts_it_after_traffic_stops(
    service_on_db: Backout, postgres_url: str
) -> None:
    plan = service_on_db("rollback", "api", "--dry-run", "--json").json()
    kinds = [s["kind"] for s in plan["steps"]]
    assert kinds[:7] == [
        "approve",
        "drain",
        "db_backup",
        "db_restore_point",
        "db_revert",
        "db_verify",
        "deploy",
    ]
    waiting = service_on_db("rollback", "api", "--yes", "--json")
    assert waiting.code == 6, waiting  # the revert drops a column holding data: a person decides
    assert "waitlist_position" in columns(postgres_url)
    done = service_on_db("approve", str(waiting.json()["run_id"]))
    assert done.code == 0, done
    assert columns(postgres_url) == ["id", "email"]
    assert service_on_db.status()["live_version"] == "1.0.0"


def test_a_service_naming_an_unknown_database_is_a_config_error(service_on_db: Backout) -> None:
    data = yaml.safe_load(service_on_db.config.read_text())
    data["services"]["api"]["database"] = "nope"
    service_on_db.config.write_text(yaml.safe_dump(data))
    service_on_db("check").refused(3, "services.api.database 'nope' is not under databases:")


def with_assertion(db: Backout, sql: str) -> Backout:
    data = yaml.safe_load(db.config.read_text())
    data["databases"]["main"]["integrity"] = {"assertions": [{"name": "the check", "sql": sql}]}
    db.config.write_text(yaml.safe_dump(data))
    return db


def test_a_problem_that_was_there_before_the_revert_is_named_and_does_not_stop_it(
    db: Backout, postgres_url: str
) -> None:
    with_assertion(db, "SELECT count(*) = 0 FROM members")  # false before and after

    done = db("db", "revert", "main", "--to", "0002", "--yes", "--json")

    assert done.code == 0, done
    steps = db("run", "show", str(done.json()["run_id"]), "--json").json()["steps"]
    verify = steps[-1]
    assert verify["kind"] == "db_verify"
    assert "already failing before the revert" in verify["message"]
    assert "'the check'" in verify["message"]
    assert "nickname" not in columns(postgres_url)


def test_a_problem_the_revert_brings_fails_the_run_and_says_where_the_schema_is(
    db: Backout, postgres_url: str
) -> None:
    with_assertion(db, "SELECT count(nickname) >= 0 FROM members")  # needs the column 0003 adds

    done = db("db", "revert", "main", "--to", "0002", "--yes")

    assert done.code == 1, done
    assert "integrity check failed: assertion 'the check' could not run" in done.stdout
    assert "the live data is unchanged; its schema is at revision 0002" in done.stdout
