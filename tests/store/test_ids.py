"""An id a person typed is found, or is unknown: never a driver error, whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backout.errors import ExitCode, NotFoundError
from backout.runs.records import get_run
from backout.store import Incident, Run, Store
from backout.store.ids import find_by_id

# Beyond PostgreSQL's integer, at and beyond SQLite's (and bigint's) 64 bits, and below both.
BEYOND_ANY_STORE = [2**31, 2**63 - 1, 2**63, 99999999999999999999, -(2**63) - 1, -(2**31) - 1]


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Store.open(url)
    yield opened
    opened.close()


def add_run(store: Store) -> int:
    with store.session() as session:
        run = Run(
            environment="production",
            kind="application",
            service="backend",
            reason="manual",
            state="running",
            actor="alice",
        )
        session.add(run)
        session.flush()
        return run.id


@pytest.mark.parametrize("run_id", BEYOND_ANY_STORE)
def test_a_run_id_beyond_the_store_range_is_an_unknown_run(store: Store, run_id: int) -> None:
    add_run(store)

    with store.session() as session, pytest.raises(NotFoundError) as raised:
        get_run(session, run_id)

    assert raised.value.message == f"there is no run {run_id}"
    assert raised.value.exit_code == ExitCode.NOT_FOUND


@pytest.mark.parametrize("incident_id", BEYOND_ANY_STORE)
def test_an_incident_id_beyond_the_store_range_is_not_found(store: Store, incident_id: int) -> None:
    with store.session() as session:
        assert find_by_id(session, Incident, incident_id) is None


def test_an_id_in_range_finds_its_row(store: Store) -> None:
    run_id = add_run(store)

    with store.session() as session:
        found = find_by_id(session, Run, run_id)
        assert found is not None
        assert found.id == run_id
        assert find_by_id(session, Run, run_id + 1) is None
        assert find_by_id(session, Run, 0) is None
        assert find_by_id(session, Run, -1) is None
