"""Open the state store: one engine per URL, schema brought to the newest Alembic revision."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DatabaseError, OperationalError

from backout.errors import UnavailableError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy.orm import Session, sessionmaker

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


SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for another one


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the watch loop read while a run writes; busy_timeout makes concurrent
    # writers (two `backout rollback` processes) wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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

TIMELINE_HOOK = "backout.on_timeline_event"
"""The key, in `Store.session_info`, of a callable `(session, event)` that
`incidents.add_event` runs for every timeline event it adds: the runtime queues there the
notifications an event causes, so that they are committed with the event or not at all."""


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
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415 - only to migrate

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("backout.store") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


class Store:
    """backout's state: SQLite by default, PostgreSQL for a team."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions: sessionmaker[Session] | None = None
        # Given to every session this store opens, as `session.info`: what the code above the
        # store hooks into a unit of work (incidents.TIMELINE_HOOK: the notifications outbox).
        self.session_info: dict[str, Any] = {}
        # Set while a thread works under a lease (store/leases.py): each transaction the thread
        # opens on this store checks the lease first, so a process that lost it records
        # nothing, whichever code writes.
        self._fence: ContextVar[Callable[[Session], None] | None] = ContextVar(
            f"store_fence_{id(self)}", default=None
        )

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
        """Bring the schema to the newest revision; safe to call on every start.

        A schema already at the newest revision is told by one query, without loading Alembic
        and every migration script (a third of the time of a command such as `backout status`).
        """
        with self.translating_errors():
            if self._schema_is_current():
                return
            from alembic import command  # noqa: PLC0415

            command.upgrade(alembic_config(self.engine), "head")

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
    def session(self, *, fenced: bool = True) -> Iterator[Session]:
        """A unit of work with ORM objects: committed when the block ends, rolled back if it
        raises. Under `fenced(...)` it first checks the lease, unless `fenced` is False (the
        lease's own renewals)."""
        with self.translating_errors(), self._session_factory().begin() as session:
            fence = self._fence.get() if fenced else None
            if fence is not None:
                fence(session)
            yield session

    @contextmanager
    def fenced(self, fence: Callable[[Session], None]) -> Iterator[None]:
        """Every transaction this thread opens in the block begins with `fence(session)`, which
        raises to refuse it (the executor's lease check: a step's own writes are fenced too)."""
        token = self._fence.set(fence)
        try:
            yield
        finally:
            self._fence.reset(token)

    @contextmanager
    def connection(self, *, fenced: bool = False) -> Iterator[Connection]:
        """A unit of work on rows (Core queries on store/tables.py), as `session()` commits
        and rolls back; what a command uses that must not pay for importing the ORM.

        A read is not fenced. A write that a run may make under its lease (a flag change)
        passes `fenced=True`: under `fenced(...)` the transaction then begins with the lease
        check, as a session's does."""
        with self.translating_errors(), self.engine.begin() as connection:
            fence = self._fence.get() if fenced else None
            if fence is not None:
                with self.session_on(connection) as session:
                    fence(session)
            yield connection

    @contextmanager
    def brief_write(self, wait_ms: int) -> Iterator[Connection]:
        """A transaction for what may be dropped (a chart's point): it waits at most `wait_ms`
        for another writer's lock, then fails, instead of holding its caller up for the
        store's usual wait (SQLite: 30 s)."""
        with self.translating_errors(), self.engine.begin() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_ms)}")
            else:
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait_ms)}ms'")
            try:
                yield connection
            finally:
                if sqlite:  # the pooled connection goes back with the store's usual wait
                    connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    @contextmanager
    def session_on(self, connection: Connection) -> Iterator[Session]:
        """An ORM session inside `connection`'s transaction, for the rare write of a unit of
        work on rows that only the ORM side knows how to make (an incident's timeline event).
        It neither commits nor ends the transaction: the connection's block does."""
        from sqlalchemy.orm import Session  # noqa: PLC0415 - see _session_factory

        with Session(bind=connection, join_transaction_mode="rollback_only") as session:
            yield session
            session.flush()

    def _session_factory(self) -> sessionmaker[Session]:
        if self._sessions is None:
            # Imported here: `sqlalchemy.orm` and the ORM classes cost a tenth of a second at
            # start, which a command that reads rows through `connection()` does not pay.
            from sqlalchemy.orm import sessionmaker  # noqa: PLC0415

            self._sessions = sessionmaker(
                self.engine, expire_on_commit=False, info=self.session_info
            )
        return self._sessions

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
