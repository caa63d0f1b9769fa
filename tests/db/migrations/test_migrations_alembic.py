"""The alembic adapter: Alembic's own API on a project made by `alembic init`, real PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from migrations_helpers import ALEMBIC_VERSION, alembic_project, build
from sqlalchemy.engine import make_url

from backout.db.connection import Database
from backout.db.migrations import MigrationError
from backout.db.migrations.alembic import sqlalchemy_url


def version_rows(database: Database) -> list[str]:
    with psycopg.connect(database.conninfo) as connection:
        return [str(r[0]) for r in connection.execute("SELECT version_num FROM alembic_version")]


def add_revision(base_dir: Path, revision: str, down: str, downgrade: str) -> None:
    text = ALEMBIC_VERSION.format(
        message=f"extra {revision}", revision=revision, down=down, up="pass", down_code=downgrade
    )
    (base_dir / "migrations" / "versions" / f"{revision}.py").write_text(text)


def test_revert_runs_alembics_downgrade_and_alembic_version_follows(
    tmp_path: Path, database: Database
) -> None:
    project = alembic_project(tmp_path, database).seeded()

    project.adapter.revert(project.adapter.revert_plan("c0ffee000001"))

    assert version_rows(database) == ["c0ffee000001"]


def test_the_generated_env_py_gets_backouts_url_whatever_the_ini_says(
    tmp_path: Path, database: Database
) -> None:
    project = alembic_project(tmp_path, database).seeded()
    assert (
        "sqlalchemy.url = driver://user:pass@localhost/dbname"
        in (tmp_path / "alembic.ini").read_text()
    )

    project.adapter.revert(project.adapter.revert_plan("c0ffee000002"))

    assert project.adapter.status().head == "c0ffee000002"


def test_a_revision_can_be_named_by_a_unique_prefix(tmp_path: Path, database: Database) -> None:
    project = alembic_project(tmp_path, database).seeded()

    assert project.adapter.revert_plan("c0ffee000001").to_revision == "c0ffee000001"


def test_the_projects_ini_logging_does_not_take_over_backouts_loggers(
    tmp_path: Path, database: Database
) -> None:
    project = alembic_project(tmp_path, database).seeded()
    ours = logging.getLogger("backout.db.migrations.alembic")
    root_handlers = list(logging.getLogger().handlers)

    project.adapter.revert(project.adapter.revert_plan("c0ffee000002"))

    assert not ours.disabled
    assert logging.getLogger().handlers == root_handlers


def test_a_step_alembic_cannot_render_offline_is_not_classified_but_still_reverts(
    tmp_path: Path, database: Database
) -> None:
    project = alembic_project(tmp_path, database).seeded()
    add_revision(
        tmp_path,
        "c0ffee000004",
        "c0ffee000003",
        "from alembic import context\n"
        "    if context.is_offline_mode():\n"
        '        raise NotImplementedError("needs a live connection")',
    )
    project.upgrade("c0ffee000004")

    plan = project.adapter.revert_plan("c0ffee000003")

    assert plan.needs_approval
    assert not plan.loses_data
    [unknown] = plan.unclassified()
    assert "could not render its SQL offline" in unknown.reason
    assert "needs a live connection" in unknown.reason
    project.adapter.revert(plan)
    assert project.adapter.status().head == "c0ffee000003"


def test_a_branched_history_is_refused(tmp_path: Path, database: Database) -> None:
    project = alembic_project(tmp_path, database)
    add_revision(tmp_path, "beef00000002", "c0ffee000001", "pass")

    with pytest.raises(MigrationError, match="branches") as refused:
        project.adapter.status()

    assert refused.value.hint is not None
    assert "alembic downgrade" in refused.value.hint


def test_a_database_ahead_of_the_scripts_is_explained(tmp_path: Path, database: Database) -> None:
    project = alembic_project(tmp_path, database).seeded()
    with psycopg.connect(database.conninfo, autocommit=True) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00d00000009'")

    with pytest.raises(MigrationError, match=r"f00d00000009, which .* does not have"):
        project.adapter.revert_plan("c0ffee000001")


def test_a_missing_env_py_is_a_clear_error(tmp_path: Path, database: Database) -> None:
    (tmp_path / "empty").mkdir()
    adapter = build(tmp_path, database, "alembic", script_location="empty")

    with pytest.raises(MigrationError, match=r"no Alembic env\.py"):
        adapter.status()


def test_a_missing_ini_is_a_clear_error(tmp_path: Path, database: Database) -> None:
    alembic_project(tmp_path, database)
    adapter = build(
        tmp_path, database, "alembic", script_location="migrations", ini="nowhere/alembic.ini"
    )

    with pytest.raises(MigrationError, match=r"nowhere/alembic\.ini does not exist"):
        adapter.status()


def test_the_url_keeps_every_part_of_a_key_value_conninfo() -> None:
    url = make_url(
        sqlalchemy_url(
            "host=db.example port=6543 user=app password='p%s@:/w' dbname=shop sslmode=require",
            lock_timeout_s=2.5,
        )
    )

    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.username, url.database) == ("db.example", 6543, "app", "shop")
    assert url.password == "p%s@:/w"
    assert url.query["sslmode"] == "require"
    assert url.query["options"] == "-c lock_timeout=2500"


def test_a_socket_folder_goes_to_the_query_as_libpq_wants() -> None:
    url = make_url(sqlalchemy_url("postgresql:///shop?host=/var/run/postgresql"))

    assert url.host is None
    assert url.query["host"] == "/var/run/postgresql"
    assert url.database == "shop"
