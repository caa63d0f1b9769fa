"""Every migration adapter (alembic, prisma, sql) keeps the same contract, on a real PostgreSQL.

The Prisma runs use a project folder and `_prisma_migrations` table built by hand as Prisma
writes them: the Prisma CLI cannot run here, so they were not checked against the real CLI.
"""

from __future__ import annotations

import psycopg
import pytest
from migrations_helpers import WAITLISTED, ProjectFactory, columns, indexes

from backout.db.connection import Database
from backout.db.migrations import (
    BASE,
    DataLoss,
    MigrationAdapter,
    MigrationError,
    UnknownRevisionError,
)
from backout.errors import UnavailableError


def test_an_adapter_is_a_migration_adapter(make_project: ProjectFactory) -> None:
    assert isinstance(make_project().adapter, MigrationAdapter)


def test_status_lists_applied_and_pending_migrations_oldest_first(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    first, second, third = project.revisions
    project.upgrade(second)

    status = project.adapter.status()

    assert status.head == second
    assert [m.revision for m in status.applied] == [first, second]
    assert [m.revision for m in status.pending] == [third]
    assert status.failed == []
    assert status.pending[0].applied_at is None


def test_status_of_an_empty_database_has_no_head(make_project: ProjectFactory) -> None:
    project = make_project()

    status = project.adapter.status()

    assert status.head is None
    assert status.applied == []
    assert [m.revision for m in status.pending] == project.revisions


def test_the_plan_to_the_first_revision_counts_the_rows_the_column_drop_loses(
    make_project: ProjectFactory,
) -> None:
    project = make_project().seeded()
    first, second, third = project.revisions

    plan = project.adapter.revert_plan(first)

    assert plan.from_revision == third
    assert plan.to_revision == first
    assert [step.revision for step in plan.steps] == [third, second]
    assert plan.steps[0].losses == [DataLoss("index", "bookings_waitlist_idx", 0)]
    assert plan.steps[1].losses == [DataLoss("column", "bookings.waitlist_position", WAITLISTED)]
    assert plan.loses_data
    assert plan.needs_approval
    assert plan.unclassified() == []
    assert "waitlist_position" in plan.steps[1].sql


def test_the_plan_changes_nothing(make_project: ProjectFactory) -> None:
    project = make_project().seeded()

    project.adapter.revert_plan(project.revisions[0])

    assert project.adapter.status().head == project.revisions[-1]
    assert "waitlist_position" in columns(project.database, "bookings")


def test_a_plan_that_drops_only_an_index_loses_no_data(make_project: ProjectFactory) -> None:
    project = make_project().seeded()

    plan = project.adapter.revert_plan(project.revisions[1])

    assert [loss.kind for loss in plan.losses()] == ["index"]
    assert not plan.loses_data
    assert not plan.needs_approval


def test_revert_brings_the_schema_back_and_the_tool_agrees(make_project: ProjectFactory) -> None:
    project = make_project().seeded()
    first, second, third = project.revisions

    project.adapter.revert(project.adapter.revert_plan(first))

    assert columns(project.database, "bookings") == ["id", "member"]
    assert "bookings_waitlist_idx" not in indexes(project.database, "bookings")
    status = project.adapter.status()
    assert status.head == first
    assert [m.revision for m in status.pending] == [second, third]


def test_revert_is_idempotent(make_project: ProjectFactory) -> None:
    project = make_project().seeded()
    plan = project.adapter.revert_plan(project.revisions[0])
    project.adapter.revert(plan)

    project.adapter.revert(plan)

    assert project.adapter.status().head == project.revisions[0]


def test_a_plan_resumes_after_the_steps_already_reverted(make_project: ProjectFactory) -> None:
    project = make_project().seeded()
    first, second, _ = project.revisions
    whole = project.adapter.revert_plan(first)
    project.adapter.revert(project.adapter.revert_plan(second))  # as if cut off after a step

    project.adapter.revert(whole)

    assert project.adapter.status().head == first
    assert columns(project.database, "bookings") == ["id", "member"]


def test_a_plan_made_before_the_schema_moved_is_refused(make_project: ProjectFactory) -> None:
    project = make_project().seeded()
    first, second, _ = project.revisions
    stale = project.adapter.revert_plan(second)
    project.adapter.revert(project.adapter.revert_plan(first))

    with pytest.raises(MigrationError, match="not on the plan's path"):
        project.adapter.revert(stale)
    assert project.adapter.status().head == first


def test_a_failing_step_is_rolled_back_whole_and_the_steps_before_it_stay_reverted(
    make_project: ProjectFactory,
) -> None:
    project = make_project(broken_second_down=True).seeded()
    first, second, _ = project.revisions
    plan = project.adapter.revert_plan(first)

    with pytest.raises(MigrationError, match=f"reverting {second}") as failure:
        project.adapter.revert(plan)

    assert "no_such_table" in str(failure.value)
    assert not failure.value.retryable
    assert project.adapter.status().head == second
    assert "bookings_waitlist_idx" not in indexes(project.database, "bookings")
    assert "waitlist_position" in columns(project.database, "bookings")


def test_a_step_that_cannot_get_its_table_lock_in_time_fails_retryably_and_changes_nothing(
    make_project: ProjectFactory,
) -> None:
    project = make_project(lock_timeout="200ms").seeded()
    plan = project.adapter.revert_plan(project.revisions[1])
    with psycopg.connect(project.database.conninfo) as reader:
        reader.execute("LOCK TABLE bookings IN ACCESS SHARE MODE")  # a long read, still open

        with pytest.raises(MigrationError, match="lock timeout") as failure:
            project.adapter.revert(plan)

    assert failure.value.retryable
    assert project.adapter.status().head == project.revisions[2]
    assert "bookings_waitlist_idx" in indexes(project.database, "bookings")


def test_revert_to_everything_empties_the_schema(make_project: ProjectFactory) -> None:
    project = make_project().seeded()

    plan = project.adapter.revert_plan(BASE)
    project.adapter.revert(plan)

    assert [loss.kind for loss in plan.losses()] == ["index", "column", "table"]
    assert plan.losses()[-1].rows_with_data == 5
    assert columns(project.database, "bookings") == []
    assert project.adapter.status().head is None


def test_an_unknown_revision_is_refused_with_the_known_ones(make_project: ProjectFactory) -> None:
    project = make_project().seeded()

    with pytest.raises(UnknownRevisionError) as refused:
        project.adapter.revert_plan("no-such-revision")

    assert all(revision in str(refused.value) for revision in project.revisions)


def test_a_pending_revision_is_no_target(make_project: ProjectFactory) -> None:
    project = make_project()
    project.upgrade(project.revisions[0])

    with pytest.raises(MigrationError, match="not applied"):
        project.adapter.revert_plan(project.revisions[2])


def test_an_unreachable_database_is_unavailable(
    make_project: ProjectFactory, unreachable_database: Database
) -> None:
    project = make_project(on=unreachable_database)

    with pytest.raises(UnavailableError, match="not reachable"):
        project.adapter.status()
    with pytest.raises(UnavailableError, match="not reachable"):
        project.adapter.revert_plan(project.revisions[0])
