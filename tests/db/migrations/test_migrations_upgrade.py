"""`upgrade()` of every migration adapter: every pending migration through the tool's own up path,
recorded as the tool records it (what a reset applies again), on a real PostgreSQL.

The Prisma runs write `_prisma_migrations` as `prisma migrate deploy` does after Prisma's
engine source; they were NOT checked against the real Prisma CLI, which cannot run here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest
from migrations_helpers import (
    ALEMBIC_VERSION,
    BOOKINGS,
    ProjectFactory,
    alembic_project,
    build,
    columns,
    indexes,
    prisma_deploy,
    prisma_project,
)

from backout.db.connection import Database
from backout.db.migrations import BASE, MigrationError

PRISMA_FIRST = "20240601120000_create_bookings"


def test_upgrade_applies_every_pending_migration_oldest_first_and_the_tool_agrees(
    make_project: ProjectFactory,
) -> None:
    project = make_project()

    applied = project.adapter.upgrade()

    assert applied == project.revisions
    status = project.adapter.status()
    assert status.head == project.revisions[-1]
    assert status.pending == []
    assert columns(project.database, "bookings") == ["id", "member", "waitlist_position"]
    assert "bookings_waitlist_idx" in indexes(project.database, "bookings")


def test_upgrade_twice_applies_nothing_the_second_time(make_project: ProjectFactory) -> None:
    project = make_project()
    project.adapter.upgrade()

    assert project.adapter.upgrade() == []
    assert project.adapter.status().head == project.revisions[-1]


def test_upgrade_goes_on_from_where_the_tool_left_the_schema(make_project: ProjectFactory) -> None:
    project = make_project()
    first, second, third = project.revisions
    project.upgrade(first)  # the tool's own up path

    assert project.adapter.upgrade() == [second, third]


def test_upgrade_after_a_revert_to_base_applies_them_all_again(
    make_project: ProjectFactory,
) -> None:
    project = make_project().seeded()
    project.adapter.revert(project.adapter.revert_plan(BASE))

    assert project.adapter.upgrade() == project.revisions
    assert project.adapter.status().head == project.revisions[-1]
    assert columns(project.database, "bookings") == ["id", "member", "waitlist_position"]


def test_a_failing_migration_is_rolled_back_whole_and_reported(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    project.upgrade(project.revisions[0])
    with psycopg.connect(project.database.conninfo, autocommit=True) as connection:
        connection.execute("ALTER TABLE bookings ADD COLUMN waitlist_position text")  # in its way

    with pytest.raises(MigrationError, match="already exists"):
        project.adapter.upgrade()

    status = project.adapter.status()
    assert status.head == project.revisions[0]
    assert [m.revision for m in status.pending] == project.revisions[1:]
    assert "bookings_waitlist_idx" not in indexes(project.database, "bookings")


# --- alembic ---------------------------------------------------------------------------------


def test_alembic_upgrade_runs_the_projects_python_migrations(
    tmp_path: Path, database: Database
) -> None:
    project = alembic_project(tmp_path, database)
    seed = ALEMBIC_VERSION.format(
        message="seed courts",
        revision="c0ffee000004",
        down="c0ffee000003",
        up="op.execute(\"INSERT INTO bookings (member) VALUES ('seeded by a migration')\")",
        down_code='op.execute("DELETE FROM bookings")',
    )
    (tmp_path / "migrations" / "versions" / "c0ffee000004.py").write_text(seed)

    assert project.adapter.upgrade() == [*project.revisions, "c0ffee000004"]

    with psycopg.connect(database.conninfo) as connection:
        assert connection.execute("SELECT member FROM bookings").fetchall() == [
            ("seeded by a migration",)
        ]
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("c0ffee000004",)
        ]


# --- prisma (re-implemented after the engine source, not checked with the real CLI) ----------


def prisma_rows(database: Database) -> list[tuple[object, ...]]:
    with psycopg.connect(database.conninfo) as connection:
        return connection.execute(
            "SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at, logs,"
            ' applied_steps_count FROM "_prisma_migrations" ORDER BY started_at, migration_name'
        ).fetchall()


def test_prisma_upgrade_writes_the_rows_migrate_deploy_writes__not_checked_with_the_real_cli(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database)
    folder = tmp_path / "prisma" / "migrations"

    project.adapter.upgrade()

    expected = [
        (
            name,
            hashlib.sha256((folder / name / "migration.sql").read_bytes()).hexdigest(),
            True,
            None,
            None,
            1,
        )
        for name in project.revisions
    ]
    assert prisma_rows(database) == expected
    assert prisma_deploy(database, folder) == [], "deploy finds nothing left to apply"


def test_prisma_upgrade_after_a_revert_adds_a_row_as_deploy_does__not_checked_with_the_real_cli(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database).seeded()
    project.adapter.revert(project.adapter.revert_plan(PRISMA_FIRST))

    assert project.adapter.upgrade() == project.revisions[1:]

    rows = [(row[0], row[3] is None) for row in prisma_rows(database)]
    assert sorted(rows) == sorted(
        [(PRISMA_FIRST, True)]
        + [(name, False) for name in project.revisions[1:]]
        + [(name, True) for name in project.revisions[1:]]
    )
    assert project.adapter.status().head == project.revisions[-1]
    with psycopg.connect(database.conninfo) as connection:
        assert connection.execute("SELECT count(*) FROM bookings").fetchone() == (BOOKINGS,)


def test_prisma_upgrade_is_refused_while_a_failed_migration_is_recorded(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database)
    project.upgrade(PRISMA_FIRST)
    with psycopg.connect(database.conninfo, autocommit=True) as connection:
        connection.execute('UPDATE "_prisma_migrations" SET finished_at = NULL')

    with pytest.raises(MigrationError, match="failed migrations"):
        project.adapter.upgrade()

    assert columns(database, "bookings") == ["id", "member"]


def test_prisma_upgrade_into_a_db_schema_creates_it_and_runs_the_migrations_there(
    tmp_path: Path, database: Database
) -> None:
    prisma_project(tmp_path, database)
    adapter = build(
        tmp_path, database, "prisma", migrations_dir="prisma/migrations", db_schema="app"
    )

    adapter.upgrade()

    with psycopg.connect(database.conninfo) as connection:
        found = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN ('app', 'public') ORDER BY 1, 2"
        ).fetchall()
    assert found == [("app", "_prisma_migrations"), ("app", "bookings")]
    assert adapter.status().pending == []
