"""Emptying a database for `backout db reset` (the runbook's `prisma migrate reset --force`):
every user schema dropped and `public` made again as it was, in one transaction.

    reset_scope(database)        what a reset would drop: the database's name as the server knows
                                 it (what a person must type to confirm), its user schemas, and
                                 the rows of each table (exact counts). Read-only; as slow as a
                                 count(*) of every table. RefusedError, before counting, when the
                                 role may not drop one of the schemas (it must own them all, be
                                 a member of their owner, or be a superuser).
    drop_everything(database, dbname=)
                                 DROP SCHEMA ... CASCADE of every user schema, then CREATE SCHEMA
                                 public with the owner, grants, comment and default privileges
                                 (ALTER DEFAULT PRIVILEGES ... IN SCHEMA public) it had: one
                                 transaction, so either everything is gone or nothing is. Refused
                                 when the connection reaches another database than `dbname`, the
                                 one the person named. Waits at most `lock_timeout` for its locks,
                                 then fails (retryable) rather than stall the application behind
                                 a long transaction. Idempotent: an empty database stays empty.
    is_empty(database)           what a reset leaves: no user schema but `public`, and no table,
                                 view, sequence, function or type in it. Read-only, quick.

Only schemas are dropped: what belongs to no schema (large objects, publications, event
triggers, roles, the database's settings) is kept, as `prisma migrate reset` keeps it. Schemas
other than `public` are not made again: the migrations that created them create them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
from psycopg import errors, sql

from backout.db.connection import Connection, Database
from backout.db.integrity import USER_SCHEMA, row_counts, user_tables
from backout.errors import BackoutError, RefusedError, StepFailedError, UnavailableError

LOCK_TIMEOUT = timedelta(seconds=30)
PUBLIC = "public"

_SCHEMAS = sql.SQL(
    "SELECT n.nspname, pg_get_userbyid(n.nspowner), pg_has_role(n.nspowner, 'USAGE')"
    " FROM pg_namespace n WHERE {user_schema} ORDER BY n.nspname"
).format(user_schema=USER_SCHEMA.format(n=sql.Identifier("n")))
_PUBLIC_SCHEMA = (
    "SELECT pg_get_userbyid(nspowner), obj_description(oid, 'pg_namespace')"
    " FROM pg_namespace WHERE nspname = 'public'"
)
_PUBLIC_GRANTS = (
    "SELECT pg_get_userbyid(nullif(a.grantee, 0)), a.privilege_type, a.is_grantable"
    " FROM pg_namespace n, aclexplode(n.nspacl) WITH ORDINALITY a"
    " WHERE n.nspname = 'public' AND a.grantee <> n.nspowner ORDER BY a.ordinality"
)
_PUBLIC_DEFAULT_GRANTS = (
    "SELECT pg_get_userbyid(d.defaclrole), d.defaclobjtype,"
    " pg_get_userbyid(nullif(a.grantee, 0)), a.privilege_type, a.is_grantable"
    " FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace,"
    " aclexplode(d.defaclacl) WITH ORDINALITY a WHERE n.nspname = 'public'"
    " ORDER BY d.oid, a.ordinality"
)
_USER_SCHEMA_N = USER_SCHEMA.format(n=sql.Identifier("n"))
_ANY_USER_OBJECT = sql.SQL(
    "SELECT EXISTS (SELECT 1 FROM pg_namespace n WHERE {s} AND n.nspname <> 'public')"
    " OR EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    "  WHERE {s})"
    " OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    "  WHERE {s})"
    " OR EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
    "  WHERE {s})"
).format(s=_USER_SCHEMA_N)
_OBJECT_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES"}


@dataclass(frozen=True)
class Schema:
    name: str
    owner: str
    droppable: bool  # the role owns it (or is a member of its owner, or a superuser)


@dataclass(frozen=True)
class ResetScope:
    """What a reset of the database would drop, as it is now."""

    dbname: str  # current_database(): the name a person types to confirm
    schemas: tuple[Schema, ...]
    tables: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass(frozen=True)
class Dropped:
    schemas: list[str]
    tables: list[str]


@dataclass(frozen=True)
class _PublicSchema:
    """`public` as it was: made again with the same owner, comment and privileges."""

    owner: str
    comment: str | None
    grants: list[tuple[str | None, str, bool]]  # grantee (None: PUBLIC), privilege, grantable
    default_grants: list[tuple[str, str, str | None, str, bool]]  # role, kind, grantee, ...


def reset_scope(database: Database) -> ResetScope:
    """The database's real name, its user schemas and the rows of each table."""
    try:
        with database.connect() as connection:
            connection.read_only = True
            dbname = _current_database(connection)
            schemas = _schemas(connection)
    except psycopg.Error as error:
        raise _error(database, error, "reading what a reset drops") from None
    _refuse_undroppable(database, schemas)
    return ResetScope(dbname, tuple(schemas), row_counts(database))


def drop_everything(
    database: Database, *, dbname: str, lock_timeout: timedelta = LOCK_TIMEOUT
) -> Dropped:
    """Drop every user schema and make `public` again as it was; see the module doc."""
    with database.connect() as connection:
        try:
            with connection.transaction():
                _set_lock_timeout(connection, lock_timeout)
                _refuse_another_database(connection, database, dbname)
                dropped = Dropped(
                    [schema.name for schema in _schemas(connection)],
                    [table.key for table in user_tables(connection)],
                )
                public = _public_schema(connection)
                if dropped.schemas:
                    names = sql.SQL(", ").join(map(sql.Identifier, dropped.schemas))
                    connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(names))
                if public is not None:
                    _make_public_again(connection, public)
        except psycopg.Error as error:
            raise _error(database, error, f"resetting {dbname}") from None
    return dropped


def is_empty(database: Database) -> bool:
    """No user schema but `public`, and nothing in it: what drop_everything() leaves."""
    try:
        with database.connect() as connection:
            row = connection.execute(_ANY_USER_OBJECT).fetchone()
    except psycopg.Error as error:
        raise _error(database, error, "looking for what the database holds") from None
    return row is not None and not row[0]


def _current_database(connection: Connection) -> str:
    row = connection.execute("SELECT current_database()").fetchone()
    return str(row[0]) if row else ""


def _schemas(connection: Connection) -> list[Schema]:
    return [
        Schema(str(name), str(owner), bool(droppable))
        for name, owner, droppable in connection.execute(_SCHEMAS).fetchall()
    ]


def _refuse_undroppable(database: Database, schemas: list[Schema]) -> None:
    blocked = [schema for schema in schemas if not schema.droppable]
    if blocked:
        owners = ", ".join(f"{schema.name} (owned by {schema.owner})" for schema in blocked)
        raise RefusedError(
            f"the role of databases.{database.name}.url may not drop schema(s) {owners}: "
            "a reset would fail",
            hint="connect as their owner (or a superuser) to reset",
        )


def _set_lock_timeout(connection: Connection, lock_timeout: timedelta) -> None:
    milliseconds = max(1, int(lock_timeout.total_seconds() * 1000))
    connection.execute("SELECT set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"])


def _refuse_another_database(connection: Connection, database: Database, dbname: str) -> None:
    reached = _current_database(connection)
    if reached != dbname:
        raise StepFailedError(
            f"databases.{database.name}.url now reaches database {reached!r}, not {dbname!r} "
            "whose name was typed to confirm the reset: nothing was dropped",
            hint="plan the reset again, and type the name it asks for",
        )


def _public_schema(connection: Connection) -> _PublicSchema | None:
    row = connection.execute(_PUBLIC_SCHEMA).fetchone()
    if row is None:
        return None
    grants = [
        (_name_or_none(grantee), str(privilege), bool(grantable))
        for grantee, privilege, grantable in connection.execute(_PUBLIC_GRANTS).fetchall()
    ]
    default_grants = [
        (str(role), str(kind), _name_or_none(grantee), str(privilege), bool(grantable))
        for role, kind, grantee, privilege, grantable in connection.execute(
            _PUBLIC_DEFAULT_GRANTS
        ).fetchall()
    ]
    comment = None if row[1] is None else str(row[1])
    return _PublicSchema(str(row[0]), comment, grants, default_grants)


def _make_public_again(connection: Connection, public: _PublicSchema) -> None:
    """CREATE SCHEMA public, then its comment, grants and owner, then its default privileges.

    The grants are made before the owner changes: ALTER ... OWNER rewrites them as the new
    owner's, so they read exactly as before.
    """
    schema = sql.Identifier(PUBLIC)
    connection.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
    if public.comment is not None:
        comment = sql.SQL("COMMENT ON SCHEMA {} IS {}")
        connection.execute(comment.format(schema, sql.Literal(public.comment)))
    for grantee, privilege, grantable in public.grants:
        grant = sql.SQL("GRANT {} ON SCHEMA {} TO {}{}").format(
            _privilege(privilege), schema, _grantee(grantee), _with_grant_option(grantable)
        )
        connection.execute(grant)
    connection.execute(
        sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, sql.Identifier(public.owner))
    )
    for role, kind, grantee, privilege, grantable in public.default_grants:
        if kind not in _OBJECT_KINDS:
            raise StepFailedError(f"unknown kind {kind!r} of default privileges in schema public")
        default_grant = sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON {} TO {}{}"
        )
        connection.execute(
            default_grant.format(
                sql.Identifier(role),
                schema,
                _privilege(privilege),
                sql.SQL(_OBJECT_KINDS[kind]),
                _grantee(grantee),
                _with_grant_option(grantable),
            )
        )


def _privilege(name: str) -> sql.SQL:
    if not (name.isalpha() and name.isupper()):
        raise StepFailedError(f"unexpected privilege {name!r} on schema public")
    return sql.SQL(name)


def _grantee(name: str | None) -> sql.Composable:
    return sql.SQL("PUBLIC") if name is None else sql.Identifier(name)


def _with_grant_option(grantable: bool) -> sql.SQL:
    return sql.SQL(" WITH GRANT OPTION" if grantable else "")


def _name_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _error(database: Database, error: psycopg.Error, doing: str) -> BackoutError:
    """psycopg's error as backout's; the transaction was rolled back, so nothing was dropped."""
    text = str(error).strip()
    message = f"{doing} on {database.name!r} failed: {text.splitlines()[0] if text else error}"
    if isinstance(error, psycopg.OperationalError) and error.sqlstate is None:
        return UnavailableError(message, hint="check that the database server runs")
    message += " (nothing was dropped)"
    if isinstance(error, errors.LockNotAvailable | errors.DeadlockDetected):
        return StepFailedError(
            message,
            retryable=True,
            hint="another session held a table lock too long; retry when it is done",
        )
    if isinstance(error, errors.InsufficientPrivilege):
        return StepFailedError(
            message, hint="connect as the owner of every schema (or a superuser) to reset"
        )
    return StepFailedError(message)
