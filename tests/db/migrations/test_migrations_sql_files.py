"""The sql adapter: NNNN_name.up.sql / .down.sql files and backout_schema_migrations."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from migrations_helpers import build, sql_project

from backout.config import PluginSpec, load_config
from backout.db.connection import Database
from backout.db.migrations import MIGRATION_ADAPTERS, MigrationError, migration_adapter_for
from backout.db.migrations.sql_files import SqlFilesAdapter
from backout.errors import BackoutError, ConfigError, NotFoundError
from backout.registry import PluginContext


def recorded(database: Database) -> list[tuple[object, ...]]:
    with psycopg.connect(database.conninfo) as connection:
        return connection.execute(
            "SELECT revision, name FROM backout_schema_migrations ORDER BY revision"
        ).fetchall()


def test_revert_deletes_the_rows_of_the_reverted_revisions(
    tmp_path: Path, database: Database
) -> None:
    project = sql_project(tmp_path, database).seeded()

    project.adapter.revert(project.adapter.revert_plan("0001"))

    assert recorded(database) == [("0001", "create_bookings")]


def test_upgrade_applies_each_pending_file_once(tmp_path: Path, database: Database) -> None:
    project = sql_project(tmp_path, database)
    adapter = project.adapter
    assert isinstance(adapter, SqlFilesAdapter)

    assert adapter.upgrade("0002") == ["0001", "0002"]
    assert adapter.upgrade() == ["0003"]
    assert adapter.upgrade() == []
    assert [r[0] for r in recorded(database)] == ["0001", "0002", "0003"]


def test_a_revision_can_be_named_with_its_name(tmp_path: Path, database: Database) -> None:
    project = sql_project(tmp_path, database).seeded()

    plan = project.adapter.revert_plan("0001_create_bookings")

    assert plan.to_revision == "0001"
    assert [step.revision for step in plan.steps] == ["0003", "0002"]


def test_a_missing_down_file_is_named(tmp_path: Path, database: Database) -> None:
    project = sql_project(tmp_path, database).seeded()
    (tmp_path / "migrations" / "0002_add_waitlist_position.down.sql").unlink()

    with pytest.raises(MigrationError, match=r"0002 \(add_waitlist_position\) has no down file"):
        project.adapter.revert_plan("0001")


def test_two_names_for_one_revision_are_refused(tmp_path: Path, database: Database) -> None:
    project = sql_project(tmp_path, database)
    (tmp_path / "migrations" / "0002_other.up.sql").write_text("SELECT 1;\n")

    with pytest.raises(MigrationError, match="revision 0002 has two names"):
        project.adapter.status()


def test_a_down_file_with_its_own_begin_and_commit_runs_in_the_steps_transaction(
    tmp_path: Path, database: Database
) -> None:
    project = sql_project(tmp_path, database).seeded()
    (tmp_path / "migrations" / "0003_index_waitlist.down.sql").write_text(
        "BEGIN;\nDROP INDEX bookings_waitlist_idx;\nCOMMIT;\n"
    )

    project.adapter.revert(project.adapter.revert_plan("0002"))

    assert project.adapter.status().head == "0002"


def test_a_down_file_that_rolls_back_by_itself_is_refused(
    tmp_path: Path, database: Database
) -> None:
    project = sql_project(tmp_path, database).seeded()
    (tmp_path / "migrations" / "0003_index_waitlist.down.sql").write_text(
        "DROP INDEX bookings_waitlist_idx;\nROLLBACK;\n"
    )
    plan = project.adapter.revert_plan("0002")

    with pytest.raises(MigrationError, match="controls its own transaction"):
        project.adapter.revert(plan)
    assert project.adapter.status().head == "0003"


def test_invalid_sql_in_a_down_file_is_reported_with_the_file(
    tmp_path: Path, database: Database
) -> None:
    project = sql_project(tmp_path, database).seeded()
    (tmp_path / "migrations" / "0003_index_waitlist.down.sql").write_text("DROP INDX oops;\n")

    with pytest.raises(MigrationError, match=r"0003_index_waitlist\.down\.sql is not valid"):
        project.adapter.revert_plan("0002")


def test_a_missing_folder_is_a_clear_error(tmp_path: Path, database: Database) -> None:
    adapter = build(tmp_path, database, "sql", directory="nowhere")

    with pytest.raises(MigrationError, match="does not exist"):
        adapter.status()


def test_an_adapter_built_without_its_database_is_refused(tmp_path: Path) -> None:
    context = PluginContext("app", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")
    spec = PluginSpec(type="sql", directory="migrations")

    with pytest.raises(BackoutError, match="without its database"):
        MIGRATION_ADAPTERS.build(spec, ("databases", "app", "migrations"), context)


def test_unknown_settings_are_reported_with_their_key_path(
    tmp_path: Path, database: Database
) -> None:
    with pytest.raises(ConfigError, match=r"databases\.app\.migrations\.folder"):
        build(tmp_path, database, "sql", directory="migrations", folder="x")


def test_the_adapter_of_a_database_is_built_from_backout_yaml(
    tmp_path: Path, database: Database
) -> None:
    sql_project(tmp_path, database).seeded()
    (tmp_path / "backout.yaml").write_text(
        "project: shop\n"
        "databases:\n"
        "  app:\n"
        f"    url: {database.conninfo}\n"
        "    migrations: {type: sql, directory: migrations}\n"
        "  other:\n"
        f"    url: {database.conninfo}\n"
    )
    config = load_config(tmp_path / "backout.yaml")

    assert migration_adapter_for(config, "app").status().head == "0003"
    with pytest.raises(NotFoundError, match="names no migration tool"):
        migration_adapter_for(config, "other")
