"""The state store keeps its promises on SQLite and on a real PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError, StatementError

from backout.errors import ExitCode, UnavailableError
from backout.store import Base, Release, Run, Step, Store, SubjectLock, tables
from backout.store.engine import alembic_config, script_heads
from tests.pg import free_port


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database: a SQLite file, or a fresh database in the test cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def add_release(store: Store, *, environment: str = "production", service: str = "backend",
                version: str = "v1.4.0") -> int:  # fmt: skip
    with store.session() as session:
        release = Release(
            environment=environment,
            service=service,
            version=version,
            status="live",
            created_by="ci",
        )
        session.add(release)
        session.flush()
        return release.id


def set_live_at(store: Store, release_id: int, at: datetime) -> None:
    with store.session() as session:
        release = session.get(Release, release_id)
        assert release is not None
        release.live_at = at


def add_run(store: Store, *, service: str = "backend") -> int:
    with store.session() as session:
        run = Run(
            environment="production",
            kind="application",
            service=service,
            reason="manual",
            state="running",
            actor="alice",
        )
        session.add(run)
        session.flush()
        return run.id


def lock(store: Store, run_id: int, *, service: str, environment: str = "production") -> None:
    with store.session() as session:
        session.add(
            SubjectLock(
                environment=environment, subject_kind="service", subject_name=service, run_id=run_id
            )
        )


def add_step(store: Store, run_id: int, position: int, params: dict[str, Any]) -> int:
    with store.session() as session:
        step = Step(
            run_id=run_id,
            position=position,
            kind="deploy",
            title=f"step {position}",
            params=params,
            state="pending",
        )
        session.add(step)
        session.flush()
        return step.id


def head_revision(store: Store) -> str | None:
    return ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_migration_creates_every_table_of_the_models(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())

    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert current_revision(store) == head_revision(store)


def test_opening_a_migrated_store_again_keeps_its_schema_and_rows(store_url: str) -> None:
    first = Store.open(store_url)
    release_id = add_release(first)
    first.close()

    again = Store.open(store_url)
    try:
        with again.session() as session:
            assert session.get(Release, release_id) is not None
        assert current_revision(again) == head_revision(again)
    finally:
        again.close()


def test_the_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == [], "a model changed without an Alembic migration"


def test_the_newest_revision_is_read_from_the_scripts_as_alembic_reads_it(store: Store) -> None:
    # Opening a store already at it skips Alembic: the two must agree, or a store would stay
    # behind (a stale answer only costs time: an upgrade that has nothing to do).
    assert script_heads() == {head_revision(store)}


def test_a_store_one_revision_behind_is_brought_up_to_date_when_opened(store_url: str) -> None:
    from alembic import command

    behind = Store.open(store_url, migrate=False)
    script = ScriptDirectory.from_config(alembic_config(behind.engine))
    previous = script.get_revision(script.get_current_head()).down_revision
    command.upgrade(alembic_config(behind.engine), str(previous))
    behind.close()

    reopened = Store.open(store_url)

    assert current_revision(reopened) == head_revision(reopened)
    assert set(inspect(reopened.engine).get_table_names()) >= set(Base.metadata.tables)
    reopened.close()


def test_timestamps_come_back_timezone_aware_in_utc(store: Store) -> None:
    shipped = datetime(2025, 3, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    release_id = add_release(store)
    set_live_at(store, release_id, shipped)

    with store.session() as session:
        read_back = session.scalars(select(Release.live_at).where(Release.id == release_id)).one()

    assert read_back == shipped
    assert read_back.utcoffset() == timedelta(0)
    assert read_back.hour == 12


def test_a_naive_timestamp_is_refused(store: Store) -> None:
    release_id = add_release(store)
    naive = datetime(2025, 3, 1, 14, 30)

    with pytest.raises(StatementError, match="naive datetime"):
        set_live_at(store, release_id, naive)

    with store.session() as session:
        release = session.get(Release, release_id)
        assert release is not None
        assert release.live_at is None


def test_a_connection_commits_rows_when_its_block_ends_and_rolls_back_if_it_raises(
    store: Store,
) -> None:
    release_id = add_release(store)
    releases = tables.releases
    good = update(releases).where(releases.c.id == release_id).values(status="good")
    bad = update(releases).where(releases.c.id == release_id).values(status="bad")

    def write_then_fail() -> None:
        with store.connection() as connection:
            connection.execute(bad)
            raise RuntimeError("the block failed after its write")

    with store.connection() as connection:
        connection.execute(good)
    with pytest.raises(RuntimeError):
        write_then_fail()

    with store.session() as session:
        release = session.get(Release, release_id)
        assert release is not None
        assert release.status == "good"


def test_a_version_is_recorded_once_per_environment_and_service(store: Store) -> None:
    add_release(store, environment="production", service="backend", version="v1.4.0")
    add_release(store, environment="staging", service="backend", version="v1.4.0")
    add_release(store, environment="production", service="frontend", version="v1.4.0")

    with pytest.raises(IntegrityError):
        add_release(store, environment="production", service="backend", version="v1.4.0")


def test_a_second_lock_on_the_same_service_is_refused(store: Store) -> None:
    holder, challenger = add_run(store), add_run(store)
    lock(store, holder, service="backend")

    with pytest.raises(IntegrityError):
        lock(store, challenger, service="backend")

    with store.session() as session:
        held = session.get(SubjectLock, ("production", "service", "backend"))
        assert held is not None
        assert held.run_id == holder


def test_another_service_or_environment_can_be_locked_meanwhile(store: Store) -> None:
    first, second, third = add_run(store), add_run(store, service="frontend"), add_run(store)
    lock(store, first, service="backend")

    lock(store, second, service="frontend")
    lock(store, third, service="backend", environment="staging")

    with store.session() as session:
        assert len(session.scalars(select(SubjectLock)).all()) == 3


def test_a_run_has_one_step_per_position(store: Store) -> None:
    run_id, other_run_id = add_run(store), add_run(store)
    add_step(store, run_id, 1, {})
    add_step(store, run_id, 2, {})
    add_step(store, other_run_id, 1, {})

    with pytest.raises(IntegrityError):
        add_step(store, run_id, 1, {})


def test_json_columns_round_trip(store: Store) -> None:
    params = {
        "to": "v1.3.2",
        "replicas": 3,
        "weight": 0.25,
        "drain": True,
        "skip": None,
        "hosts": ["a", "b"],
        "note": "rollback — café ✓",
        "nested": {"checks": [{"kind": "http", "expect": [200, 204]}]},
    }
    step_id = add_step(store, add_run(store), 1, params)
    with store.session() as session:
        step = session.get(Step, step_id)
        assert step is not None
        step.output = {"served": "v1.3.2", "latency_ms": [12.5, 13.0]}

    with store.session() as session:
        read_back = session.scalars(select(Step).where(Step.id == step_id)).one()
        assert read_back.params == params
        assert read_back.output == {"served": "v1.3.2", "latency_ms": [12.5, 13.0]}


def test_an_unreachable_postgresql_is_reported_as_unavailable_without_a_traceback() -> None:
    port = free_port()

    with pytest.raises(UnavailableError) as raised:
        Store.open(f"postgresql://backout:s3cret@127.0.0.1:{port}/backout")

    error = raised.value
    assert f"127.0.0.1:{port}" in str(error)
    assert "not reachable" in str(error)
    assert "s3cret" not in str(error)
    assert error.hint is not None
    assert error.exit_code == ExitCode.UNAVAILABLE
    assert error.retryable
    assert error.__cause__ is None
    assert error.__suppress_context__
