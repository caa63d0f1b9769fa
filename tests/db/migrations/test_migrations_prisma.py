"""The prisma adapter, on a project folder and `_prisma_migrations` table built by hand exactly
as Prisma's docs and engine source describe them. NOT checked against the real Prisma CLI: it
cannot run here (it downloads its schema engine at first use), so `prisma_deploy` below is a
re-implementation of `prisma migrate deploy` after the engine's apply_migrations.rs."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from migrations_helpers import build, columns, prisma_deploy, prisma_project

from backout.db.connection import Database
from backout.db.migrations import MigrationError

FIRST = "20240601120000_create_bookings"
SECOND = "20240602120000_add_waitlist_position"
THIRD = "20240603120000_index_waitlist"


def prisma_rows(database: Database) -> list[tuple[object, ...]]:
    with psycopg.connect(database.conninfo) as connection:
        return connection.execute(
            "SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL "
            'FROM "_prisma_migrations" ORDER BY started_at'
        ).fetchall()


def test_revert_sets_rolled_back_at_as_prisma_resolve_does__not_checked_with_the_real_cli(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database).seeded()

    project.adapter.revert(project.adapter.revert_plan(FIRST))

    assert prisma_rows(database) == [
        (FIRST, True, False),
        (SECOND, True, True),
        (THIRD, True, True),
    ]


def test_a_deploy_after_the_revert_applies_the_migrations_again__reimplemented_not_the_real_cli(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database).seeded()
    project.adapter.revert(project.adapter.revert_plan(FIRST))

    applied = prisma_deploy(database, tmp_path / "prisma" / "migrations")

    assert applied == [SECOND, THIRD]
    assert project.adapter.status().head == THIRD
    assert "waitlist_position" in columns(database, "bookings")


def test_a_migration_deployed_again_can_be_reverted_again__not_checked_with_the_real_cli(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database).seeded()
    project.adapter.revert(project.adapter.revert_plan(SECOND))
    prisma_deploy(database, tmp_path / "prisma" / "migrations")

    project.adapter.revert(project.adapter.revert_plan(SECOND))

    assert [row for row in prisma_rows(database) if row[0] == THIRD] == [
        (THIRD, True, True),
        (THIRD, True, True),
    ]
    assert project.adapter.status().head == SECOND


def test_a_missing_down_sql_names_the_migration_and_how_to_make_it(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database).seeded()
    (tmp_path / "prisma" / "migrations" / SECOND / "down.sql").unlink()

    with pytest.raises(MigrationError, match=f"no down.sql for {SECOND} in") as refused:
        project.adapter.revert_plan(FIRST)

    assert refused.value.hint is not None
    assert "prisma migrate diff --from-schema-datamodel" in refused.value.hint
    assert "--script" in refused.value.hint


def test_a_failed_migration_is_shown_and_blocks_a_revert__not_checked_with_the_real_cli(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database).seeded()
    with psycopg.connect(database.conninfo, autocommit=True) as connection:
        connection.execute(
            'UPDATE "_prisma_migrations" SET finished_at = NULL, logs = %s '
            "WHERE migration_name = %s",
            ["syntax error", THIRD],
        )

    status = project.adapter.status()

    assert [m.revision for m in status.failed] == [THIRD]
    assert status.head == SECOND
    with pytest.raises(MigrationError, match="failed migrations"):
        project.adapter.revert_plan(FIRST)


def test_a_migration_sql_edited_after_it_was_applied_needs_approval(
    tmp_path: Path, database: Database
) -> None:
    project = prisma_project(tmp_path, database).seeded()
    migration = tmp_path / "prisma" / "migrations" / THIRD / "migration.sql"
    migration.write_text(migration.read_text() + "-- edited\n")

    plan = project.adapter.revert_plan(SECOND)

    assert plan.needs_approval
    assert "changed since it was applied" in plan.unclassified()[0].reason


def test_a_checksum_of_crlf_line_endings_still_matches(tmp_path: Path, database: Database) -> None:
    project = prisma_project(tmp_path, database).seeded()
    migration = tmp_path / "prisma" / "migrations" / THIRD / "migration.sql"
    migration.write_bytes(migration.read_bytes().replace(b"\n", b"\r\n"))

    assert not project.adapter.revert_plan(SECOND).needs_approval


def test_a_lock_file_of_another_provider_is_refused(tmp_path: Path, database: Database) -> None:
    project = prisma_project(tmp_path, database)
    (tmp_path / "prisma" / "migrations" / "migration_lock.toml").write_text('provider = "mysql"\n')

    with pytest.raises(MigrationError, match="provider = 'mysql'"):
        project.adapter.status()


def test_a_revert_waits_for_prismas_advisory_lock_then_fails_retryably(
    tmp_path: Path, database: Database
) -> None:
    prisma_project(tmp_path, database).seeded()
    adapter = build(
        tmp_path, database, "prisma", migrations_dir="prisma/migrations", lock_timeout="200ms"
    )
    plan = adapter.revert_plan(SECOND)
    held, release = threading.Event(), threading.Event()

    def deploy_in_progress() -> None:
        with psycopg.connect(database.conninfo, autocommit=True) as connection:
            connection.execute("SELECT pg_advisory_lock(72707369)")
            held.set()
            release.wait(10)

    holder = threading.Thread(target=deploy_in_progress)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(MigrationError, match="lock") as refused:
            adapter.revert(plan)
    finally:
        release.set()
        holder.join(10)

    assert refused.value.retryable
    assert adapter.status().head == THIRD
