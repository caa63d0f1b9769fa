"""Open the state store: one engine per URL, schema brought to the newest Alembic revision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backout.errors import UnavailableError


def _normalise_url(url: str) -> str:
    """psycopg 3 is the PostgreSQL driver; a bare postgresql:// URL means it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the watch loop read while a run writes; busy_timeout makes concurrent
    # writers (two `backout rollback` processes) wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("backout.store") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


class Store:
    """backout's state: SQLite by default, PostgreSQL for a team."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        url = _normalise_url(url)
        if url.startswith("sqlite:///"):
            folder = Path(url.removeprefix("sqlite:///")).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UnavailableError(
                    f"cannot create the state folder {folder}: {error.strerror}",
                    hint="check state.database in backout.yaml or BACKOUT_DATABASE_URL",
                ) from None
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _tune_sqlite)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to call on every start."""
        try:
            command.upgrade(alembic_config(self.engine), "head")
        except OperationalError as error:
            raise UnavailableError(
                f"state store {self.engine.url.render_as_string(hide_password=True)} "
                f"is not reachable: {error.orig}",
                hint="check state.database in backout.yaml or BACKOUT_DATABASE_URL",
            ) from None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
