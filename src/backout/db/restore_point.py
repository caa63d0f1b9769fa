"""Named restore points: a moment a point-in-time restore can stop at, taken before a revert."""

from __future__ import annotations

import psycopg

from backout.db.connection import Database
from backout.errors import StepFailedError, UnavailableError

MAX_NAME_LENGTH = 63  # PostgreSQL's limit (MAXFNAMELEN - 1)


def create_restore_point(database: Database, name: str) -> str:
    """`pg_create_restore_point(name)`; returns its WAL position (LSN), e.g. '0/3000090'.

    Not idempotent: each call writes a new WAL record (a restore to a name stops at its first
    point). A restore can reach it only once the WAL holding it is archived or streamed.
    Needs wal_level replica or logical, and superuser or EXECUTE on the function.
    """
    if not name or len(name.encode()) > MAX_NAME_LENGTH:
        raise StepFailedError(
            f"restore point name {name!r} must be 1 to {MAX_NAME_LENGTH} bytes long"
        )
    with database.connect(autocommit=True) as connection:
        try:
            row = connection.execute("SELECT pg_create_restore_point(%s)::text", [name]).fetchone()
        except psycopg.errors.InsufficientPrivilege:
            raise StepFailedError(
                f"the role of {database.describe()} may not create restore points",
                hint="connect as a superuser, or GRANT EXECUTE ON FUNCTION "
                "pg_create_restore_point(text) TO that role",
            ) from None
        except psycopg.errors.ObjectNotInPrerequisiteState as error:
            raise StepFailedError(
                f"cannot create restore point {name!r} on {database.name!r}: "
                f"{str(error).strip().splitlines()[0]}",
                hint="set wal_level = replica (or logical) and restart; a standby cannot "
                "create one: use the primary",
            ) from None
        except psycopg.OperationalError as error:
            raise UnavailableError(
                f"lost database {database.name!r} while creating a restore point: {error}"
            ) from None
        except psycopg.Error as error:
            raise StepFailedError(f"cannot create restore point {name!r}: {error}") from None
    return str(row[0]) if row else ""
