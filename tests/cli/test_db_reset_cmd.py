"""`backout db reset`: the runbook's `migrate reset --force`, only behind the database's name typed,
run as a durable plan: a checked backup → drop everything → every migration again → integrity.

A real PostgreSQL database and a real Alembic project (`alembic init`, three revisions, the
second of which seeds two courts); the command runs as the installed console script.
"""

from __future__ import annotations

import io
import os
import pty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from alembic import command
from alembic.config import Config as AlembicConfig

from backout.db.migrations import migration_adapter_for
from backout.db.migrations.alembic import sqlalchemy_url
from backout.errors import ExitCode, RefusedError
from backout.operations import views
from backout.operations.database import list_backups
from backout.operations.database_runs import plan_reset, start_reset
from tests.cli.conftest import Backout, Result, cli_environment, fake_service

pytestmark = pytest.mark.postgres

NOT_CONFIRMED = int(ExitCode.NOT_CONFIRMED)
REVISIONS = {
    "a1": (
        None,
        "members",
        'op.execute("CREATE TABLE members (id serial PRIMARY KEY, email text)")',
    ),
    "a2": (
        "a1",
        "courts, seeded",
        'op.execute("CREATE TABLE courts (id serial PRIMARY KEY, name text NOT NULL)")\n'
        "    op.execute(\"INSERT INTO courts (name) VALUES ('Court 1'), ('Court 2')\")",
    ),
    "a3": ("a2", "nickname", 'op.execute("ALTER TABLE members ADD COLUMN nickname text")'),
}
VERSION_FILE = '''"""{message}"""
from alembic import op

revision = "{revision}"
down_revision = {down!r}


def upgrade():
    {up}


def downgrade():
    pass
'''
SEED_COURTS = [("Court 1",), ("Court 2",)]


def alembic_project(base_dir: Path, conninfo: str) -> None:
    """`alembic init` (env.py untouched), the three revisions, upgraded by Alembic itself."""
    command.init(
        AlembicConfig(file_=base_dir / "alembic.ini", stdout=io.StringIO()),
        str(base_dir / "migrations"),
        template="generic",
    )
    for revision, (down, message, up) in REVISIONS.items():
        text = VERSION_FILE.format(message=message, revision=revision, down=down, up=up)
        (base_dir / "migrations" / "versions" / f"{revision}.py").write_text(text)
    config = AlembicConfig(stdout=io.StringIO())
    config.set_main_option("script_location", str(base_dir / "migrations"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(conninfo))
    command.upgrade(config, "head")


@pytest.fixture
def conninfo(postgres_url: str) -> str:
    return postgres_url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def dbname(conninfo: str) -> str:
    """The database's name on its server (not the config key `main`)."""
    return conninfo.rsplit("/", 1)[1]


@pytest.fixture
def db(backout: Backout, conninfo: str, tmp_path: Path) -> Backout:
    """Database `main` at revision a3, holding 7 members and a third court someone added."""
    alembic_project(tmp_path, conninfo)
    execute(
        conninfo,
        "INSERT INTO members (email) SELECT 'm' || i FROM generate_series(1, 7) i;"
        "INSERT INTO courts (name) VALUES ('Court 3')",
    )
    data = {
        "project": "db-reset",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "services": {"api": fake_service()},
        "databases": {
            "main": {
                "url": conninfo,
                "backup": {"type": "pg_dump", "repository": "backups"},
                "migrations": {
                    "type": "alembic",
                    "script_location": "migrations",
                    "ini": "alembic.ini",
                },
            }
        },
    }
    backout.config.write_text(yaml.safe_dump(data))
    backout.env = cli_environment()
    return backout


def execute(conninfo: str, statements: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(statements)


def rows(conninfo: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo) as connection:
        return connection.execute(query).fetchall()


def as_it_was(conninfo: str) -> bool:
    """Nothing changed: the 7 members and the 3 courts are all there."""
    members = rows(conninfo, "SELECT count(*) FROM members")
    courts = rows(conninfo, "SELECT count(*) FROM courts")
    return members == [(7,)] and courts == [(3,)]


def database_runs(db: Backout) -> list[dict[str, Any]]:
    """What `backout runs --json` lists of kind `database`, read in-process."""
    with db.runtime() as runtime:
        return [r for r in views.list_runs(runtime) if r["kind"] == "database"]


def backups(db: Backout) -> list[dict[str, Any]]:
    """What `backout db backups main --json` lists, read in-process."""
    with db.runtime() as runtime:
        return list_backups(runtime, "main")


def head(db: Backout) -> str | None:
    """What `backout db migrations main` calls the head, read in-process."""
    with db.runtime() as runtime:
        return migration_adapter_for(runtime.config, "main").status().head


def test_a_reset_confirmed_with_the_database_name_backs_up_empties_and_migrates_again(
    db: Backout, conninfo: str, dbname: str
) -> None:
    done = db("db", "reset", "main", "--confirm", dbname, "--json")

    assert done.code == 0, done
    body = done.json()
    assert body["dbname"] == dbname
    steps = {s["kind"]: s for s in body["steps"]}
    assert list(steps) == ["db_backup", "db_reset", "db_upgrade", "db_verify"]
    assert all(s["state"] == "succeeded" for s in steps.values()), steps
    backup = steps["db_backup"]["message"]
    assert ", checked (" in backup
    location = backup.split(" at ", 1)[1].split(", checked")[0]
    assert Path(location).is_file()
    assert str(db.config.parent / "backups") in location
    assert f"of {dbname} (3 table(s))" in steps["db_reset"]["message"]
    assert "schema at a3: applied 3 migration(s) (a1, a2, a3)" in steps["db_upgrade"]["message"]
    assert rows(conninfo, "SELECT count(*) FROM members") == [(0,)]
    assert rows(conninfo, "SELECT name FROM courts ORDER BY id") == SEED_COURTS
    assert head(db) == "a3"
    [run] = database_runs(db)
    assert run["service"] == "database:main"
    assert run["state"] == "succeeded"
    [taken] = backups(db)
    assert taken["location"] == location
    assert taken["row_counts"] == {
        "public.alembic_version": 1,
        "public.courts": 3,
        "public.members": 7,
    }


def test_the_backup_location_is_in_the_text_output(db: Backout, conninfo: str, dbname: str) -> None:
    done = db("db", "reset", "main", "--confirm", dbname)

    assert done.code == 0, done
    [taken] = backups(db)
    assert f"backup {taken['id']} at {taken['location']}, checked (" in done.stdout
    assert rows(conninfo, "SELECT count(*) FROM members") == [(0,)]


def test_the_config_key_is_not_the_name_to_type_exit_9_and_nothing_changes(
    db: Backout, conninfo: str, dbname: str
) -> None:
    refused = db("db", "reset", "main", "--confirm", "main")

    refused.refused(NOT_CONFIRMED, "'main' is not", dbname, "nothing was changed")
    assert as_it_was(conninfo)
    assert database_runs(db) == []
    assert backups(db) == []


def test_without_confirm_and_no_terminal_to_ask_it_is_refused_with_exit_9(
    db: Backout, conninfo: str
) -> None:
    refused = db("db", "reset", "main")

    refused.refused(NOT_CONFIRMED, "--confirm")
    assert as_it_was(conninfo)
    assert database_runs(db) == []


def test_the_dry_run_says_what_it_drops_and_changes_nothing(
    db: Backout, conninfo: str, dbname: str
) -> None:
    plan = db("db", "reset", "main", "--dry-run", "--json")

    assert plan.code == 0, plan
    body = plan.json()
    assert body["dbname"] == dbname
    assert body["tables"] == {"public.alembic_version": 1, "public.courts": 3, "public.members": 7}
    assert body["rows"] == 11
    assert body["schemas"] == ["public"]
    assert body["migrations"] == ["a1", "a2", "a3"]
    assert [s["kind"] for s in body["steps"]] == [
        "db_backup",
        "db_reset",
        "db_upgrade",
        "db_verify",
    ]
    text = db("db", "reset", "main", "--dry-run")
    assert text.code == 0, text
    assert f"reset main (database {dbname}): drop 3 table(s) holding 11 row(s)" in text.stdout
    assert "! drops public.members (7 row(s))" in text.stdout
    assert "dry run: nothing was changed" in text.stdout
    assert as_it_was(conninfo)
    assert database_runs(db) == []


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    """A pseudo-terminal: (the side a person types into, the side the program reads)."""
    typed, program_side = pty.openpty()
    yield typed, program_side
    os.close(typed)
    os.close(program_side)


def at_a_terminal(db: Backout, terminal: tuple[int, int], answer: str, *args: str) -> Result:
    """Run `backout ARGS` reading a terminal on which `answer` is typed."""
    typed, program_side = terminal
    os.write(typed, f"{answer}\n".encode())
    return db(*args, stdin=program_side)


def test_the_name_typed_at_the_prompt_confirms_the_reset(
    db: Backout, conninfo: str, dbname: str, terminal: tuple[int, int]
) -> None:
    done = at_a_terminal(db, terminal, dbname, "db", "reset", "main")

    assert done.code == 0, done
    assert f"type the database name ({dbname}) to confirm" in done.stderr
    assert "drop 3 table(s) holding 11 row(s)" in done.stdout
    assert rows(conninfo, "SELECT name FROM courts ORDER BY id") == SEED_COURTS


def test_a_wrong_name_typed_at_the_prompt_is_refused_with_exit_9(
    db: Backout, conninfo: str, terminal: tuple[int, int]
) -> None:
    refused = at_a_terminal(db, terminal, "yes", "db", "reset", "main")

    refused.refused(NOT_CONFIRMED, "'yes' is not", "nothing was changed")
    assert as_it_was(conninfo)
    assert database_runs(db) == []


def test_a_reset_killed_after_its_backup_is_finished_by_resume_with_one_backup(
    db: Backout, conninfo: str, dbname: str
) -> None:
    killed = db.with_env(BACKOUT_FAILPOINTS="executor.after_step=1")(
        "db", "reset", "main", "--confirm", dbname
    )
    assert killed.code == -9, killed
    assert as_it_was(conninfo), "killed after the backup: nothing dropped yet"

    resumed = db("resume")

    assert resumed.code == 0, resumed
    [run] = database_runs(db)
    steps = db.run_detail(run["id"])["steps"]
    assert [(s["kind"], s["state"], s["attempts"]) for s in steps] == [
        ("db_backup", "succeeded", 1),
        ("db_reset", "succeeded", 1),
        ("db_upgrade", "succeeded", 1),
        ("db_verify", "succeeded", 1),
    ]
    assert len(backups(db)) == 1
    assert rows(conninfo, "SELECT count(*) FROM members") == [(0,)]
    assert rows(conninfo, "SELECT name FROM courts ORDER BY id") == SEED_COURTS


def test_a_reset_killed_once_its_drop_took_effect_is_observed_not_redone_on_resume(
    db: Backout, conninfo: str, dbname: str
) -> None:
    killed = db.with_env(BACKOUT_FAILPOINTS="executor.after_act=2")(
        "db", "reset", "main", "--confirm", dbname
    )
    assert killed.code == -9, killed
    assert rows(conninfo, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]

    resumed = db("resume")

    assert resumed.code == 0, resumed
    [run] = database_runs(db)
    reset = db.run_detail(run["id"])["steps"][1]
    assert reset["attempts"] == 1
    assert "observed after an interruption" in reset["message"]
    assert head(db) == "a3"


def test_a_reset_that_fails_to_migrate_says_where_the_data_as_it_was_is(
    db: Backout, conninfo: str, dbname: str, tmp_path: Path
) -> None:
    broken = VERSION_FILE.format(
        message="broken", revision="a4", down="a3", up='op.execute("SELECT * FROM no_such_table")'
    )
    (tmp_path / "migrations" / "versions" / "a4.py").write_text(broken)

    done = db("db", "reset", "main", "--confirm", dbname)

    assert done.code == 1, done
    assert "no_such_table" in done.stdout
    [taken] = backups(db)
    assert (
        f"the live data was dropped and its schema is empty; the data as it was is in backup "
        f"{taken['id']} at {taken['location']}"
    ) in done.stdout


def test_the_operation_itself_stores_no_run_without_the_right_name(db: Backout) -> None:
    with db.runtime() as runtime:
        preview = plan_reset(runtime, "main", reason="database reset")
        with pytest.raises(RefusedError, match="'main' is not the name of database 'main'"):
            start_reset(runtime, preview, typed_dbname="main", actor="api", reason="reset")

    assert database_runs(db) == []
