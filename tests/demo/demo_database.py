"""The database a demo app under test uses: the environment that names it, and a look inside."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool


@dataclass(frozen=True)
class AppDatabase:
    """SQLite or PostgreSQL: `env` points the app at it, `url` is its SQLAlchemy URL."""

    backend: str
    url: str
    env: dict[str, str]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql))]
        finally:
            engine.dispose()

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT COUNT(*) FROM {table}")[0][0])

    def revisions(self) -> list[str]:
        """What alembic_version holds: the schema's revision, as Alembic records it."""
        return [str(row[0]) for row in self.rows("SELECT version_num FROM alembic_version")]

    def tables(self) -> set[str]:
        return set(self._inspect(lambda inspector: inspector.get_table_names()))

    def columns(self, table: str) -> list[str]:
        found = self._inspect(lambda inspector: inspector.get_columns(table))
        return [column["name"] for column in found]

    def _inspect(self, read: Any) -> Any:
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return read(inspect(conn))
        finally:
            engine.dispose()
