"""Finding a row by the id a person typed: an id the store cannot hold is simply unknown.

A run or incident id comes from a command line or a URL, so it may be any integer. Handed to
the database as it is, one beyond the column's range is an error of the driver (SQLite:
OverflowError; PostgreSQL: "integer out of range"), not "there is no run 99999999999999999999".
Every lookup by an id a caller gave goes through `find_by_id` (ORM) or `can_hold_id` (a Core
query), which know each dialect's range.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import BigInteger, ColumnElement, Connection, Table, false, true
from sqlalchemy.orm import DeclarativeBase, Session

Row = TypeVar("Row", bound=DeclarativeBase)

_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)


def id_range(db: Session | Connection, model: type[DeclarativeBase] | Table) -> tuple[int, int]:
    """The smallest and largest id `model`'s table can hold in the database of `db`.

    SQLite stores every INTEGER in 64 bits; PostgreSQL's `integer` (what `Integer` columns
    become) has 32, its `bigint` 64.
    """
    dialect = db.get_bind().dialect if isinstance(db, Session) else db.dialect
    if dialect.name == "sqlite":
        return _INT64
    table = model if isinstance(model, Table) else model.__table__
    return _INT64 if isinstance(table.c.id.type, BigInteger) else _INT32


def can_hold_id(
    db: Session | Connection, model: type[DeclarativeBase] | Table, row_id: int
) -> bool:
    """Whether `row_id` can be an id of `model`'s table: a query for one that cannot fails."""
    lowest, highest = id_range(db, model)
    return lowest <= row_id <= highest


def find_by_id(session: Session, model: type[Row], row_id: int) -> Row | None:
    """The row of `model` with id `row_id`; None when there is none, or cannot be one."""
    if not can_hold_id(session, model, row_id):
        return None
    return session.get(model, row_id)


def ids_below(session: Session, model: type[DeclarativeBase], before: int) -> ColumnElement[bool]:
    """The condition `model.id < before`, for any `before`: one beyond the column's range is
    not sent to the database (where it is an error), it selects every row, or none."""
    lowest, highest = id_range(session, model)
    if before > highest:
        return true()
    if before <= lowest:
        return false()
    id_column: ColumnElement[int] = model.__table__.c.id
    return id_column < before
