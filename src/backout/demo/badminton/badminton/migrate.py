"""Bring the database to this release's schema at start, with Alembic's own API.

The migrations live in migrations/ at the root of the checkout; `alembic upgrade head` there
does the same as a start of the app (it reads the same settings, see migrations/env.py).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from .release import VERSION

logger = logging.getLogger("badminton")

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
# Any fixed number, the same in every release: one PostgreSQL advisory lock for migrating.
MIGRATION_LOCK_KEY = 0x6261646D696E  # "badmin"


def migrate_to_head(conn: Connection) -> None:
    """Upgrade to the newest revision of migrations/, inside the caller's transaction.

    A database at a revision this release does not know was migrated by a newer release (this
    one is a rollback): its schema only adds to ours, so it is served as it is, not migrated.
    """
    _lock_migrations(conn)
    config = alembic_config(conn)
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    current = MigrationContext.configure(conn).get_current_heads()
    newer = [revision for revision in current if revision not in known]
    if newer:
        logger.warning(
            "the database is at revision %s, which release %s does not know (a newer release "
            "migrated it): serving it without migrating",
            ", ".join(newer),
            VERSION,
        )
        return
    command.upgrade(config, "head")


def alembic_config(conn: Connection) -> Config:
    """An Alembic config that runs migrations/ on `conn` (env.py uses the connection given)."""
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    return config


def _lock_migrations(conn: Connection) -> None:
    """Make app instances starting at once migrate one after the other.

    PostgreSQL: an advisory lock held until the caller's transaction ends. SQLite: the caller's
    transaction began with BEGIN IMMEDIATE, which already keeps every other writer out.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
