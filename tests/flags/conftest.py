"""Fixtures of the flag tests: a real Unleash server, shared by the session (per xdist worker)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.flags.unleash_server import UnleashServer, start_unleash, unleash_missing
from tests.pg import PostgresCluster
from tests.pg_fixtures import running_in_ci

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def unleash_server(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UnleashServer]:
    """Unleash 7 on 127.0.0.1 with its own database; skipped without node or the server
    (`make node-deps`), except in CI. Tests share it: each seeds the flags it needs."""
    missing = unleash_missing()
    if missing is not None:
        if running_in_ci():
            pytest.fail(f"CI is set and {missing}", pytrace=False)
        pytest.skip(missing)
    database = postgres_cluster.create_database()
    db = {
        "host": "127.0.0.1",
        "port": postgres_cluster.port,
        "user": "postgres",
        "database": database,
    }
    server = start_unleash(tmp_path_factory.mktemp("unleash"), db=db)
    log.info("Unleash started in %.1fs at %s", server.started_in_s, server.url)
    yield server
    server.stop()
    postgres_cluster.drop_database(database)
