"""Open the state store: one engine per URL, schema brought to the newest Alembic revision."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backout.errors import UnavailableError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# `revision = "0005"` and `down_revision = "0004"` (or None) at the top of a migration file.
_REVISION = re.compile(r"^revision(?:\s*:[^=]+)?\s*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_REVISION = re.compile(
    r"^down_revision(?:\s*:[^=]+)?\s*=\s*(?:None|[\"']([^\"']+)[\"'])\s*$", re.M
)


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
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415 - only to migrate

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
        """Bring the schema to the newest revision; safe to call on every start.

        A schema already at the newest revision is told by one query, without loading Alembic
        and every migration script (a third of the time of a command such as `backout status`).
        """
        try:
            if self._schema_is_current():
                return
            from alembic import command  # noqa: PLC0415

            command.upgrade(alembic_config(self.engine), "head")
        except OperationalError as error:
            raise UnavailableError(
                f"state store {self.engine.url.render_as_string(hide_password=True)} "
                f"is not reachable: {error.orig}",
                hint="check state.database in backout.yaml or BACKOUT_DATABASE_URL",
            ) from None

    def _schema_is_current(self) -> bool:
        heads = script_heads()
        if not heads:
            return False
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return False
            stamped = connection.execute(text("SELECT version_num FROM alembic_version"))
            return set(stamped.scalars()) == heads

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def script_heads() -> set[str]:
    """The newest revisions of backout's migrations, read from the scripts' text; empty when a
    script is not of the plain form (a merge, say), so that Alembic itself decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (resources.files("backout.store") / "migrations" / "versions").iterdir():
        if not script.name.endswith(".py") or script.name.startswith("_"):
            continue
        source = script.read_text(encoding="utf-8")
        revision, parent = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or parent is None:
            return set()
        revisions.add(revision[1])
        if parent[1] is not None:
            parents.add(parent[1])
    return revisions - parents
