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
from sqlalchemy.exc import DatabaseError, OperationalError
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


_STORE_HINT = "check state.database in backout.yaml or BACKOUT_DATABASE_URL"

_SQLITE_PROBLEMS = (
    # (what SQLite says, what it means for the person, what they can do)
    (
        ("file is not a database", "malformed", "disk image"),
        "is damaged or is not a SQLite database",
        "restore the file from a copy; or move it aside, and backout starts an empty store "
        "there (without the history the damaged file held)",
    ),
    (
        ("readonly", "read-only"),
        "cannot be written (read-only)",
        "give the user running backout write access to the file and its folder",
    ),
    (
        ("unable to open",),
        "cannot be opened",
        "check that the folder exists and the user running backout may write to it",
    ),
)


class StoreUnavailableError(UnavailableError):
    """backout's own state store cannot be used: unreachable, damaged or read-only."""


def _store_problem(store_name: str, error: DatabaseError) -> StoreUnavailableError:
    reason = str(error.orig)
    if store_name.startswith("sqlite"):
        for needles, meaning, hint in _SQLITE_PROBLEMS:
            if any(needle in reason.lower() for needle in needles):
                return StoreUnavailableError(
                    f"state store {store_name} {meaning}: {reason}", hint=hint
                )
        return StoreUnavailableError(
            f"state store {store_name} cannot be used: {reason}", hint=_STORE_HINT
        )
    return StoreUnavailableError(
        f"state store {store_name} is not reachable: {reason}", hint=_STORE_HINT
    )


def _is_store_problem(error: DatabaseError) -> bool:
    """The store itself failed (connection, file, disk) — not a constraint or a bug in a query."""
    return isinstance(error, OperationalError) or type(error) is DatabaseError


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

    @property
    def name(self) -> str:
        """The store as a person knows it, never with its password."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def translating_errors(self) -> Iterator[None]:
        """Turn the store failing under us into one readable StoreUnavailableError (exit 8)."""
        try:
            yield
        except DatabaseError as error:
            if not _is_store_problem(error):
                raise
            raise _store_problem(self.name, error) from None

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
        with self.translating_errors():
            command.upgrade(alembic_config(self.engine), "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self.translating_errors(), self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
