"""`backout db verify`: the integrity report, against a real PostgreSQL database."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import psycopg
import pytest

from backout.config import IntegritySettings
from backout.db.connection import Database
from backout.db.integrity import row_counts, verify
from backout.errors import UnavailableError

pytestmark = pytest.mark.postgres

SCHEMA = """
CREATE TABLE members (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE bookings (
    id int PRIMARY KEY,
    member_id int REFERENCES members (id),
    created_at timestamptz NOT NULL
);
INSERT INTO members VALUES (1, 'ana'), (2, 'bo'), (3, 'cy');
INSERT INTO bookings VALUES
    (10, 1, '2024-05-01 10:00+00'), (11, 2, '2024-05-02 11:30+00'), (12, NULL, '2024-04-30 09:00+00');
"""


@pytest.fixture
def database(postgres_url: str) -> Database:
    """The test's fresh database, holding members and their bookings."""
    db = Database("app", postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    run(db, SCHEMA)
    return db


def run(database: Database, statements: str) -> None:
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute(statements)


def settings(**fields: object) -> IntegritySettings:
    return IntegritySettings.model_validate(fields)


def test_a_consistent_database_is_ok_and_counts_every_user_table(database: Database) -> None:
    run(
        database,
        "CREATE SCHEMA audit; CREATE TABLE audit.events (id int); INSERT INTO audit.events VALUES (1)",
    )

    report = verify(database, settings())

    assert report.ok, report.problems
    assert {c.table: c.rows for c in report.tables} == {
        "audit.events": 1,
        "public.bookings": 3,
        "public.members": 3,
    }
    assert [(fk.table, fk.references, fk.orphans) for fk in report.foreign_keys] == [
        ("public.bookings", "public.members", 0)
    ]


def test_counts_are_compared_with_the_reference_of_a_backup(database: Database) -> None:
    reference = {"public.members": 3, "public.bookings": 5, "public.old_table": 7}

    report = verify(database, settings(), reference_counts=reference)

    by_table = {c.table: c for c in report.tables}
    assert by_table["public.members"].difference == 0
    assert by_table["public.bookings"].difference == -2
    assert by_table["public.old_table"].rows is None
    assert report.missing_tables == ["public.old_table"]
    assert report.ok, "a count that moved is a fact, not a problem"


def test_row_counts_are_what_a_backup_records_as_the_next_reference(database: Database) -> None:
    run(
        database,
        'CREATE TABLE "odd ""name"" ü" (x int); INSERT INTO "odd ""name"" ü" VALUES (1), (2)',
    )

    counts = row_counts(database)

    assert counts == {"public.bookings": 3, "public.members": 3, 'public.odd "name" ü': 2}
    assert {c.difference for c in verify(database, settings(), reference_counts=counts).tables} == {
        0
    }


def test_estimate_reads_the_planner_statistics_and_counts_tables_never_analysed(
    database: Database,
) -> None:
    run(
        database,
        "CREATE TABLE big (id int) WITH (autovacuum_enabled = false);"
        "INSERT INTO big SELECT generate_series(1, 500);"
        "CREATE TABLE fresh (id int) WITH (autovacuum_enabled = false);"
        "INSERT INTO fresh VALUES (1), (2);"
        "ANALYZE big;",
    )

    report = verify(database, settings(), estimate=True)

    by_table = {c.table: c for c in report.tables}
    assert (by_table["public.big"].rows, by_table["public.big"].estimated) == (500, True)
    assert (by_table["public.fresh"].rows, by_table["public.fresh"].estimated) == (2, False)
    assert "~500" in "\n".join(report.lines())


def test_a_constraint_left_not_valid_is_a_problem(database: Database) -> None:
    run(database, "ALTER TABLE members ADD CONSTRAINT name_not_empty CHECK (name <> '') NOT VALID")

    report = verify(database, settings())

    assert not report.ok
    assert report.problems == [
        "constraint name_not_empty on table public.members is NOT VALID: "
        "rows it should cover were never checked"
    ]


def test_a_child_row_whose_parent_is_missing_is_found(database: Database) -> None:
    # What a load with triggers off (or session_replication_role = replica) can leave behind.
    run(
        database,
        "SET session_replication_role = replica; INSERT INTO bookings VALUES (13, 99, now())",
    )

    report = verify(database, settings())

    assert [fk.orphans for fk in report.foreign_keys] == [1]
    assert report.problems == [
        "foreign key bookings_member_id_fkey: 1 row(s) of public.bookings "
        "have no parent in public.members"
    ]


def test_a_match_full_key_with_only_part_of_it_set_is_an_orphan(database: Database) -> None:
    run(
        database,
        "CREATE TABLE slots (court int, hour int, PRIMARY KEY (court, hour));"
        "CREATE TABLE holds (id int PRIMARY KEY, court int, hour int,"
        "  FOREIGN KEY (court, hour) REFERENCES slots MATCH FULL);"
        "INSERT INTO slots VALUES (1, 9);"
        "INSERT INTO holds VALUES (1, 1, 9), (2, NULL, NULL);"
        "SET session_replication_role = replica;"
        "INSERT INTO holds VALUES (3, 1, NULL), (4, 2, 9);",
    )

    report = verify(database, settings())

    orphans = {fk.table: fk.orphans for fk in report.foreign_keys}
    assert orphans == {"public.bookings": 0, "public.holds": 2}


def test_user_assertions_pass_fail_or_error_and_each_is_named(database: Database) -> None:
    checks = settings(
        assertions=[
            {"name": "table exists", "sql": "SELECT count(*) > 0 FROM no_such_table"},
            {"name": "three members", "sql": "SELECT count(*) = 3 FROM members"},
            {
                "name": "no booking without member",
                "sql": "SELECT bool_and(member_id IS NOT NULL) FROM bookings",
            },
            {"name": "not a boolean", "sql": "SELECT 42"},
        ]
    )

    report = verify(database, checks)

    results = {a.name: (a.passed, a.error) for a in report.assertions}
    assert results["three members"] == (True, None)
    assert results["no booking without member"] == (False, None)
    assert results["table exists"][1] == 'relation "no_such_table" does not exist'
    assert results["not a boolean"][1] == "expected one boolean, got 42"
    assert report.problems == [
        "assertion 'table exists' could not run: relation \"no_such_table\" does not exist",
        "assertion 'no booking without member' failed (returned false)",
        "assertion 'not a boolean' could not run: expected one boolean, got 42",
    ]


def test_the_check_is_read_only_even_for_an_assertion_that_writes(database: Database) -> None:
    sneaky = "WITH gone AS (DELETE FROM bookings RETURNING 1) SELECT true"

    report = verify(database, settings(assertions=[{"name": "sneaky", "sql": sneaky}]))

    assert "in a read-only transaction" in str(report.assertions[0].error)
    assert row_counts(database)["public.bookings"] == 3


def test_the_newest_row_of_each_recent_table_is_reported(database: Database) -> None:
    run(database, "CREATE TABLE empty_log (at timestamptz)")
    recent = {"bookings": "created_at", "public.empty_log": "at", "members": "updated_at"}

    report = verify(database, settings(recent=recent))

    newest = {(r.table, r.column): (r.newest, r.error) for r in report.recent}
    assert newest[("public.bookings", "created_at")] == (
        datetime(2024, 5, 2, 11, 30, tzinfo=UTC),
        None,
    )
    assert newest[("public.empty_log", "at")] == (None, None)
    assert newest[("public.members", "updated_at")][1] == 'column "updated_at" does not exist'
    assert report.problems == [
        'newest updated_at of public.members could not be read: column "updated_at" does not exist'
    ]
    assert report.as_dict()["recent"][0]["newest"] == "2024-05-02T11:30:00+00:00"


def test_a_recent_table_that_does_not_exist_is_a_problem(database: Database) -> None:
    report = verify(database, settings(recent={"payments": "paid_at"}))

    assert report.problems == [
        "newest paid_at of payments could not be read: unknown table 'payments'"
    ]


def test_the_report_reads_as_json_and_as_lines(database: Database) -> None:
    run(database, "ALTER TABLE members ADD CONSTRAINT short CHECK (length(name) < 3) NOT VALID")

    report = verify(
        database,
        settings(recent={"bookings": "created_at"}),
        reference_counts={"public.members": 2},
    )

    data = json.loads(json.dumps(report.as_dict()))
    assert data["ok"] is False
    assert data["tables"][1] == {
        "table": "public.members",
        "rows": 3,
        "reference": 2,
        "difference": 1,
        "estimated": False,
    }
    lines = report.lines()
    assert lines[0] == "integrity of app: 1 problem(s)"
    assert lines[1].split() == ["table", "rows", "reference", "difference"]
    assert lines[3].split() == ["public.members", "3", "2", "+1"]
    assert "newest public.bookings.created_at: 2024-05-02T11:30:00+00:00" in lines
    assert lines[-1].startswith("  - constraint short on table public.members is NOT VALID")


def test_an_unreachable_database_is_unavailable_with_a_readable_message() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = Database(
        "orders", f"host=127.0.0.1 port={port} user=postgres password=secret dbname=orders"
    )

    with pytest.raises(UnavailableError) as raised:
        verify(nowhere, settings())

    message = str(raised.value)
    assert message.startswith("database 'orders' (")
    assert f"port={port}" in message
    assert "is not reachable" in message
    assert "secret" not in message
    assert "Traceback" not in message
