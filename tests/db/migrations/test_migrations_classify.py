"""classify: what a down step drops, and how many rows hold data there, on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from backout.db.connection import Connection, Database
from backout.db.migrations import DataLoss, MigrationError
from backout.db.migrations.classify import (
    Classification,
    classify,
    read_only_connection,
    runnable_statements,
)

SCHEMA = """
CREATE TABLE bookings (id serial PRIMARY KEY, member text NOT NULL, note text,
                       CONSTRAINT bookings_member_check CHECK (member <> ''));
CREATE INDEX bookings_member_idx ON bookings (member);
CREATE SEQUENCE tickets;
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE "Court Slots" ("Slot" text);
INSERT INTO bookings (member, note) VALUES ('ann', 'x'), ('bob', NULL), ('cy', 'y'), ('di', NULL);
INSERT INTO "Court Slots" VALUES ('a'), (NULL);
"""


@pytest.fixture
def connection(database: Database) -> Iterator[Connection]:
    with psycopg.connect(database.conninfo, autocommit=True) as setup:
        setup.execute(SCHEMA)
    with read_only_connection(database) as connection:
        yield connection


def judged(connection: Connection, text: str) -> Classification:
    return classify(connection, text)


def test_a_dropped_table_counts_its_rows(connection: Connection) -> None:
    assert judged(connection, "DROP TABLE bookings;").losses == [DataLoss("table", "bookings", 4)]


def test_a_dropped_column_counts_only_rows_where_it_holds_a_value(
    connection: Connection,
) -> None:
    found = judged(connection, "ALTER TABLE bookings DROP COLUMN note;")

    assert found.losses == [DataLoss("column", "bookings.note", 2)]
    assert found.unclassified == []


def test_quoted_and_schema_qualified_names_are_counted_as_written(
    connection: Connection,
) -> None:
    found = judged(connection, 'ALTER TABLE public."Court Slots" DROP COLUMN "Slot";')

    assert found.losses == [DataLoss("column", "public.Court Slots.Slot", 1)]


def test_constraints_indexes_and_sequences_are_reported_without_row_data(
    connection: Connection,
) -> None:
    found = judged(
        connection,
        "ALTER TABLE bookings DROP CONSTRAINT bookings_member_check;"
        "DROP INDEX bookings_member_idx; DROP SEQUENCE tickets; DROP TYPE mood;",
    )

    assert found.losses == [
        DataLoss("constraint", "bookings.bookings_member_check", 0),
        DataLoss("index", "bookings_member_idx", 0),
        DataLoss("sequence", "tickets", 0),
        DataLoss("type", "mood", 0),
    ]
    assert found.unclassified == []


def test_truncate_and_delete_without_where_lose_every_row(connection: Connection) -> None:
    found = judged(connection, "TRUNCATE bookings; DELETE FROM bookings;")

    assert found.losses == [DataLoss("rows", "bookings", 4), DataLoss("rows", "bookings", 4)]


def test_a_delete_with_where_counts_the_rows_it_matches(connection: Connection) -> None:
    [loss] = judged(connection, "DELETE FROM bookings WHERE note IS NULL;").losses

    assert loss == DataLoss("rows", "bookings WHERE note IS NULL", 2)


def test_statements_that_keep_data_are_not_listed(connection: Connection) -> None:
    found = judged(
        connection,
        "BEGIN; CREATE TABLE t (a int); ALTER TABLE bookings ADD COLUMN x int;"
        "INSERT INTO bookings (member) VALUES ('eve'); COMMENT ON TABLE bookings IS 'b';"
        "ALTER TABLE bookings RENAME COLUMN note TO remark; CREATE INDEX i ON bookings (id);"
        "COMMIT;",
    )

    assert found == Classification()


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("UPDATE bookings SET note = NULL", "changes existing values"),
        ("ALTER TABLE bookings ALTER COLUMN note TYPE varchar(1)", "AlterColumnType"),
        ("DROP SCHEMA public CASCADE", "dropping a schema"),
        ("DROP TYPE mood CASCADE", "CASCADE"),
        ("TRUNCATE bookings CASCADE", "CASCADE"),
        ("DO $$ BEGIN DELETE FROM bookings; END $$", "DoStmt"),
        ("SELECT setval('tickets', 1)", "may call functions"),
        ("INSERT INTO bookings VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET note = 'z'", "ON"),
        ("DELETE FROM bookings USING bookings b2 WHERE b2.id = bookings.id", "USING"),
        ("ALTER TABLE missing DROP COLUMN c", "does not exist now"),
        ("DROP TABLE missing", "does not exist now"),
    ],
)
def test_what_cannot_be_judged_is_listed_not_ignored(
    connection: Connection, statement: str, reason: str
) -> None:
    found = judged(connection, statement)

    assert [item.sql for item in found.unclassified] == [statement]
    assert reason in found.unclassified[0].reason
    assert found.unclassified[0].sentence().startswith("not classified: ")


def test_dropping_what_does_not_exist_with_if_exists_loses_nothing(
    connection: Connection,
) -> None:
    found = judged(
        connection,
        "DROP TABLE IF EXISTS missing; ALTER TABLE bookings DROP COLUMN IF EXISTS nothing;",
    )

    assert found == Classification()


def test_counting_runs_read_only_so_a_where_clause_cannot_write(
    connection: Connection, database: Database
) -> None:
    found = judged(connection, "DELETE FROM bookings WHERE nextval('tickets') > 0;")

    assert "read-only transaction" in found.unclassified[0].reason
    with psycopg.connect(database.conninfo) as check:
        assert check.execute("SELECT last_value, is_called FROM tickets").fetchone() == (1, False)


def test_the_tools_own_bookkeeping_table_is_left_out(connection: Connection) -> None:
    found = classify(
        connection,
        "UPDATE alembic_version SET version_num = 'a'; DELETE FROM alembic_version;"
        "DROP TABLE alembic_version;",
        ignore_tables={"alembic_version"},
    )

    assert found == Classification()


def test_invalid_sql_names_its_source(connection: Connection) -> None:
    with pytest.raises(MigrationError, match=r"down\.sql of x is not valid PostgreSQL"):
        classify(connection, "DROP TABLEE bookings", source="down.sql of x")


def test_a_steps_own_begin_and_commit_are_dropped_from_what_runs() -> None:
    assert runnable_statements("BEGIN; DROP INDEX i; COMMIT;", source="x") == ["DROP INDEX i"]


identifiers = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=20,
).filter(lambda name: len(name.encode()) <= 63)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=identifiers, column=identifiers, rows=st.integers(0, 4), filled=st.integers(0, 4))
def test_any_column_name_is_counted_by_its_non_null_rows(
    database: Database, table: str, column: str, rows: int, filled: int
) -> None:
    filled = min(filled, rows)
    with psycopg.connect(database.conninfo) as connection:  # rolled back at the end
        names = sql.Identifier(table), sql.Identifier(column)
        connection.execute(sql.SQL("CREATE TABLE {} ({} int)").format(*names))
        values = [sql.Literal(n if n < filled else None) for n in range(rows)]
        for value in values:  # no %s placeholders: a name may hold a '%'
            connection.execute(sql.SQL("INSERT INTO {} VALUES ({})").format(names[0], value))
        statement = sql.SQL("ALTER TABLE {} DROP COLUMN {};").format(*names).as_string(connection)

        found = classify(connection, statement)

        assert found.losses == [DataLoss("column", f"{table}.{column}", filled)]
        connection.rollback()
