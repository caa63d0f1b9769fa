"""Fixtures of the migration adapter tests: a real PostgreSQL database per test, and a small
project of each tool (see migrations_helpers) in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from migrations_helpers import PROJECTS, Project, ProjectFactory, libpq

from backout.db.connection import Database
from tests.pg import free_port


@pytest.fixture
def database(postgres_url: str) -> Database:
    return Database("app", libpq(postgres_url))


@pytest.fixture
def unreachable_database() -> Database:
    """Nothing listens on this port."""
    return Database("app", f"host=127.0.0.1 port={free_port()} user=postgres dbname=app")


@pytest.fixture(params=sorted(PROJECTS))
def make_project(
    request: pytest.FixtureRequest, tmp_path: Path, database: Database
) -> ProjectFactory:
    """Builds the project of one tool (each test runs once per tool) on `database`."""
    maker = PROJECTS[request.param]

    def make(
        *, broken_second_down: bool = False, lock_timeout: str = "30s", on: Database | None = None
    ) -> Project:
        return maker(
            tmp_path,
            on or database,
            broken_second_down=broken_second_down,
            lock_timeout=lock_timeout,
        )

    return make
