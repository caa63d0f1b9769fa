"""create_restore_point: the named WAL position taken before a revert, on a real PostgreSQL."""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg import sql

from backout.db.connection import Database
from backout.db.restore_point import create_restore_point
from backout.errors import StepFailedError, UnavailableError

LSN = re.compile(r"^[0-9A-F]+/[0-9A-F]+$")


def as_number(lsn: str) -> int:
    high, low = lsn.split("/")
    return int(high, 16) << 32 | int(low, 16)


def test_a_restore_point_returns_its_wal_position_and_later_ones_come_after(
    database: Database,
) -> None:
    first = create_restore_point(database, "before-revert-1")
    second = create_restore_point(database, "before-revert-2")

    assert LSN.match(first)
    assert as_number(second) > as_number(first)


def test_a_name_longer_than_postgresql_allows_is_refused_before_connecting() -> None:
    nowhere = Database("app", "host=127.0.0.1 port=1 dbname=app")

    with pytest.raises(StepFailedError, match="1 to 63 bytes"):
        create_restore_point(nowhere, "x" * 64)


def test_a_role_without_the_right_is_told_what_to_grant(database: Database) -> None:
    role = f"reader_{database.dbname}"
    with psycopg.connect(database.conninfo, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        reader = Database("app", f"{database.conninfo}?user={role}")
        with pytest.raises(StepFailedError) as refused:
            create_restore_point(reader, "before-revert")
        assert refused.value.hint is not None
        assert "GRANT EXECUTE ON FUNCTION pg_create_restore_point" in refused.value.hint
    finally:
        with psycopg.connect(database.conninfo, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_an_unreachable_database_is_unavailable(unreachable_database: Database) -> None:
    with pytest.raises(UnavailableError, match="not reachable"):
        create_restore_point(unreachable_database, "before-revert")
