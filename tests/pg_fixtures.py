"""pytest fixtures for a real PostgreSQL: one cluster per session (per xdist worker), a fresh
database per test. Registered by `pytest_plugins = ["tests.pg_fixtures"]` in tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pg import PostgresCluster, find_bindir, start_cluster

MISSING_BINARIES = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
    "/usr/lib/postgresql/15/bin, $BACKOUT_PG_BINDIR or `pg_config --bindir`; "
    "run scripts/ensure-postgres.sh"
)


def running_in_ci() -> bool:
    """CI=true (or any value but empty/0/false/no): a missing PostgreSQL must fail, not skip."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running cluster on 127.0.0.1 for this session; skipped without binaries, except in CI."""
    bindir = find_bindir()
    if bindir is None:
        if running_in_ci():
            pytest.fail(f"CI is set and {MISSING_BINARIES}", pytrace=False)
        pytest.skip(MISSING_BINARIES)
    cluster = start_cluster(bindir)
    yield cluster
    cluster.destroy()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database `test_<random>`, dropped after the test."""
    database = postgres_cluster.create_database()
    yield postgres_cluster.url(database)
    postgres_cluster.drop_database(database)
