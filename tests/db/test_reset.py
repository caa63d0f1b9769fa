"""Emptying a database for a reset (backout.db.reset), against a real PostgreSQL database: every
user schema dropped in one transaction, `public` made again exactly as it was."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from backout.db.connection import Database
from backout.db.reset import drop_everything, is_empty, reset_scope
from backout.errors import RefusedError, StepFailedError

pytestmark = pytest.mark.postgres

SCHEMA = """
CREATE TABLE members (id serial PRIMARY KEY, email text NOT NULL);
INSERT INTO members (email) SELECT 'm' || i FROM generate_series(1, 4) i;
CREATE SCHEMA audit;
CREATE TABLE audit.events (id int, member_id int REFERENCES members);
INSERT INTO audit.events VALUES (1, 1), (2, 2);
CREATE VIEW member_emails AS SELECT email FROM members;
CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42';
CREATE TYPE court_kind AS ENUM ('indoor', 'outdoor');
"""
PUBLIC_AS_IT_IS = (
    "SELECT nspowner::regrole::text, nspacl::text, obj_description(oid, 'pg_namespace')"
    " FROM pg_namespace WHERE nspname = 'public'"
)
DEFAULT_PRIVILEGES = (
    "SELECT defaclrole::regrole::text, defaclobjtype, defaclacl::text"
    " FROM pg_default_acl ORDER BY 1, 2"
)


@pytest.fixture
def database(postgres_url: str) -> Database:
    db = Database("app", postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    run(db, SCHEMA)
    return db


def run(database: Database, statements: str | sql.Composable) -> None:
    with psycopg.connect(database.conninfo, autocommit=True) as connection:
        connection.execute(statements)


def rows(database: Database, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database.conninfo) as connection:
        return connection.execute(query).fetchall()


@pytest.fixture
def role(database: Database) -> Iterator[str]:
    """A login role of the cluster, no superuser; gone (with what it owns) after the test."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    run(database, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    yield name
    identifier = sql.Identifier(name)
    run(database, sql.SQL("REASSIGN OWNED BY {} TO postgres").format(identifier))
    run(database, sql.SQL("DROP OWNED BY {}").format(identifier))
    run(database, sql.SQL("DROP ROLE {}").format(identifier))


def as_role(database: Database, role: str) -> Database:
    return Database(database.name, make_conninfo(database.conninfo, user=role))


def test_the_scope_names_the_database_as_its_server_knows_it_and_counts_every_table(
    database: Database,
) -> None:
    scope = reset_scope(database)

    assert scope.dbname == database.dbname
    assert scope.dbname.startswith("test_")
    assert [(s.name, s.droppable) for s in scope.schemas] == [("audit", True), ("public", True)]
    assert scope.tables == {"audit.events": 2, "public.members": 4}
    assert scope.rows == 6


def test_everything_is_dropped_and_public_is_made_again_as_it_was(database: Database) -> None:
    public_before = rows(database, PUBLIC_AS_IT_IS)
    assert public_before[0][0] == "pg_database_owner"  # PostgreSQL 15's own defaults

    dropped = drop_everything(database, dbname=database.dbname)

    assert dropped.schemas == ["audit", "public"]
    assert dropped.tables == ["audit.events", "public.members"]
    assert is_empty(database)
    assert rows(database, PUBLIC_AS_IT_IS) == public_before


def test_a_reset_of_an_empty_database_changes_nothing_more(database: Database) -> None:
    drop_everything(database, dbname=database.dbname)
    public_before = rows(database, PUBLIC_AS_IT_IS)

    again = drop_everything(database, dbname=database.dbname)

    assert again.schemas == ["public"]
    assert again.tables == []
    assert rows(database, PUBLIC_AS_IT_IS) == public_before


def test_grants_and_default_privileges_on_public_are_made_again(
    database: Database, role: str
) -> None:
    reader = sql.Identifier(role)
    run(database, sql.SQL("GRANT CREATE ON SCHEMA public TO {} WITH GRANT OPTION").format(reader))
    run(
        database,
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {};"
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO {}"
        ).format(reader, reader),
    )
    run(database, "COMMENT ON SCHEMA public IS 'the app''s tables'")
    public_before = rows(database, PUBLIC_AS_IT_IS)
    defaults_before = rows(database, DEFAULT_PRIVILEGES)
    assert len(defaults_before) == 2

    drop_everything(database, dbname=database.dbname)

    assert rows(database, PUBLIC_AS_IT_IS) == public_before
    assert rows(database, DEFAULT_PRIVILEGES) == defaults_before
    run(database, "CREATE TABLE courts (id serial PRIMARY KEY)")  # as a migration would
    assert rows(database, f"SELECT has_table_privilege('{role}', 'courts', 'SELECT')") == [(True,)]


def test_the_databases_owner_resets_it_without_being_a_superuser(
    database: Database, role: str
) -> None:
    owner = sql.Identifier(role)
    dbname = sql.Identifier(database.dbname)
    run(database, sql.SQL("ALTER DATABASE {} OWNER TO {}").format(dbname, owner))
    run(database, sql.SQL("ALTER SCHEMA audit OWNER TO {}").format(owner))
    for table in ("members", "audit.events"):  # its tables; the view, function, type are not
        run(database, sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.SQL(table), owner))
    public_before = rows(database, PUBLIC_AS_IT_IS)
    as_owner = as_role(database, role)
    assert all(schema.droppable for schema in reset_scope(as_owner).schemas)

    drop_everything(as_owner, dbname=database.dbname)

    assert is_empty(database)
    assert rows(database, PUBLIC_AS_IT_IS) == public_before


def test_a_schema_the_role_may_not_drop_refuses_the_reset_before_anything_is_counted(
    database: Database, role: str
) -> None:
    run(database, sql.SQL("GRANT USAGE ON SCHEMA audit TO {}").format(sql.Identifier(role)))

    with pytest.raises(RefusedError, match=r"may not drop schema\(s\) audit \(owned by postgres\)"):
        reset_scope(as_role(database, role))


def test_another_database_than_the_one_named_is_refused_and_nothing_is_dropped(
    database: Database,
) -> None:
    with pytest.raises(StepFailedError, match="not 'production'") as refused:
        drop_everything(database, dbname="production")

    assert not refused.value.retryable
    assert not is_empty(database)
    assert reset_scope(database).rows == 6


def test_a_table_lock_held_elsewhere_fails_retryably_and_drops_nothing(
    database: Database,
) -> None:
    with psycopg.connect(database.conninfo) as reader:
        reader.execute("LOCK TABLE members IN ACCESS SHARE MODE")  # a long read, still open

        with pytest.raises(StepFailedError, match="lock timeout") as refused:
            drop_everything(
                database, dbname=database.dbname, lock_timeout=timedelta(milliseconds=200)
            )

    assert refused.value.retryable
    assert "nothing was dropped" in refused.value.message
    assert reset_scope(database).tables == {"audit.events": 2, "public.members": 4}


def test_a_database_with_only_a_function_left_is_not_empty(database: Database) -> None:
    drop_everything(database, dbname=database.dbname)
    assert is_empty(database)

    run(database, "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'")

    assert not is_empty(database)
