"""A run or incident id the state store cannot hold is an unknown one: exit 4, a sentence that
says how to list the known ones, never a traceback — on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

USAGE = 2
NOT_FOUND = 4
# 2**63 and beyond do not fit SQLite's 64-bit integers (nor PostgreSQL's bigint).
BEYOND_64_BITS = ["9223372036854775808", "99999999999999999999"]
# Beyond PostgreSQL's 32-bit integer, which its id columns are.
BEYOND_32_BITS = ["2147483648", "9223372036854775807"]

# Each command with `{id}` where the id goes.
LOOKUPS = [
    (("run", "show", "{id}"), "there is no run {id}", "backout runs"),
    (("approve", "{id}"), "there is no run {id}", "backout runs"),
    (("abort", "{id}"), "there is no run {id}", "backout runs"),
    (("incident", "show", "{id}"), "there is no incident {id}", "backout incidents"),
    (("incident", "report", "{id}"), "there is no incident {id}", "backout incidents"),
    (
        ("incident", "edit", "{id}", "--root-cause", "a typo"),
        "there is no incident {id}",
        "backout incidents",
    ),
]


def with_id(command: tuple[str, ...], row_id: str) -> list[str]:
    return [part.format(id=row_id) for part in command]


@pytest.mark.parametrize(("command", "message", "how_to_list"), LOOKUPS)
@pytest.mark.parametrize("row_id", BEYOND_64_BITS)
def test_an_id_beyond_sqlite_integers_is_unknown(
    backout: Backout, command: tuple[str, ...], message: str, how_to_list: str, row_id: str
) -> None:
    backout(*with_id(command, row_id)).refused(NOT_FOUND, message.format(id=row_id), how_to_list)


@pytest.mark.postgres
@pytest.mark.parametrize(("command", "message", "how_to_list"), LOOKUPS)
def test_an_id_beyond_postgresql_integers_is_unknown(
    backout: Backout, postgres_url: str, command: tuple[str, ...], message: str, how_to_list: str
) -> None:
    on_postgres = backout.with_env(BACKOUT_DATABASE_URL=postgres_url)

    for row_id in BEYOND_32_BITS + BEYOND_64_BITS:
        on_postgres(*with_id(command, row_id)).refused(
            NOT_FOUND, message.format(id=row_id), how_to_list
        )


@pytest.mark.parametrize("limit", ["-1", "0", "1001"])
def test_a_limit_out_of_its_range_is_a_usage_error(backout: Backout, limit: str) -> None:
    backout("runs", "--limit", limit).refused(USAGE, "Invalid value for '--limit'")
