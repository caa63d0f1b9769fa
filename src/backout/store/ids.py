"""Finding a row by the id a person typed: an id the store cannot hold is simply unknown.

A run or incident id comes from a command line or a URL, so it may be any integer. Handed to
the database as it is, one beyond the column's range is an error of the driver (SQLite:
OverflowError; PostgreSQL: "integer out of range"), not "there is no run 99999999999999999999".
Every lookup by an id a caller gave goes through `find_by_id`, which knows each dialect's range.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import BigInteger, ColumnElement, false, true
from sqlalchemy.orm import DeclarativeBase, Session

Row = TypeVar("Row", bound=DeclarativeBase)

_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)


def id_range(session: Session, model: type[DeclarativeBase]) -> tuple[int, int]:
    """The smallest and largest id `model`'s table can hold in the session's database.

    SQLite stores every INTEGER in 64 bits; PostgreSQL's `integer` (what `Integer` columns
    become) has 32, its `bigint` 64.
    """
    if session.get_bind().dialect.name == "sqlite":
        return _INT64
    column_type = model.__table__.c.id.type
    return _INT64 if isinstance(column_type, BigInteger) else _INT32


def find_by_id(session: Session, model: type[Row], row_id: int) -> Row | None:
    """The row of `model` with id `row_id`; None when there is none, or cannot be one."""
    lowest, highest = id_range(session, model)
    if not lowest <= row_id <= highest:
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
