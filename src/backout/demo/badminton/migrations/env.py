"""Alembic's entry point for the migrations of Badminton Group.

The database is, first of all, the one Alembic was handed: a connection in
`config.attributes["connection"]` (the app migrating at start, in its own transaction), or
the `sqlalchemy.url` option (a tool such as backout sets it). Otherwise it is the app's own
setting: $BADMINTON_DATABASE_URL, else the SQLite file $BADMINTON_DB (default badminton.db),
so `alembic upgrade head` in the checkout migrates the database the app would use. Offline
mode (`alembic upgrade --sql`) prints the SQL instead of running it.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.engine import URL, make_url

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def database_url() -> URL:
    """The URL a tool gave Alembic, else the app's own setting."""
    given = config.get_main_option("sqlalchemy.url")
    if given:
        return make_url(given)
    # The app's rule (badminton/db.py), repeated: env.py runs in tools that cannot import the app.
    configured = os.environ.get("BADMINTON_DATABASE_URL", "").strip()
    if not configured:
        path = Path(os.environ.get("BADMINTON_DB", "badminton.db")).absolute()
        return URL.create("sqlite+pysqlite", database=str(path))
    url = make_url(configured)
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_on(connection: Connection) -> None:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        run_migrations_on(given)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            run_migrations_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
