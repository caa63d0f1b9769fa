"""Small projects of each migration tool, all with the same three migrations:

    1 create_bookings          bookings(id, member)
    2 add_waitlist_position    adds bookings.waitlist_position and fills it for ids 1-3
    3 index_waitlist           an index on it

and each tool's own "up" path, to bring a database to a revision as the tool would.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config as AlembicConfig

from backout.config import PluginSpec
from backout.db.connection import Database
from backout.db.migrations import MIGRATION_ADAPTERS, DbPluginContext, MigrationAdapter
from backout.db.migrations.alembic import sqlalchemy_url

BOOKINGS = 5  # rows inserted after the first migration
WAITLISTED = 3  # rows the second migration gives a waitlist_position
FAILING_DOWN = "ALTER TABLE no_such_table DROP COLUMN nothing"


@dataclass
class Project:
    """One tool's project in a folder, and the adapter backout builds for it."""

    tool: str
    adapter: MigrationAdapter
    revisions: list[str]  # oldest first
    upgrade: Callable[[str], None]  # bring the database up to a revision, as the tool would
    database: Database

    def seeded(self) -> Project:
        """At the newest revision, with BOOKINGS rows of which WAITLISTED are waitlisted."""
        self.upgrade(self.revisions[0])
        with psycopg.connect(self.database.conninfo, autocommit=True) as connection:
            for n in range(BOOKINGS):
                connection.execute("INSERT INTO bookings (member) VALUES (%s)", [f"member {n}"])
        self.upgrade(self.revisions[-1])
        return self


def context(base_dir: Path, database: Database) -> DbPluginContext:
    return DbPluginContext(
        service=database.name,
        config_file=base_dir / "backout.yaml",
        base_dir=base_dir,
        state_dir=base_dir / ".backout",
        database=database,
        cluster=None,
    )


def build(base_dir: Path, database: Database, type_: str, **settings: str) -> MigrationAdapter:
    spec = PluginSpec(type=type_, **settings)
    where = ("databases", database.name, "migrations")
    return MIGRATION_ADAPTERS.build(spec, where, context(base_dir, database))


def libpq(url: str) -> str:
    """The fixture's SQLAlchemy URL as a libpq one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def columns(database: Database, table: str) -> list[str]:
    with psycopg.connect(database.conninfo) as connection:
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
    return [str(row[0]) for row in rows]


def indexes(database: Database, table: str) -> list[str]:
    with psycopg.connect(database.conninfo) as connection:
        rows = connection.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table]
        ).fetchall()
    return [str(row[0]) for row in rows]


# --- sql: NNNN_name.up.sql / .down.sql -------------------------------------------------------

SQL_FILES = {
    "0001_create_bookings": (
        "CREATE TABLE bookings (id serial PRIMARY KEY, member text NOT NULL);",
        "DROP TABLE bookings;",
    ),
    "0002_add_waitlist_position": (
        "ALTER TABLE bookings ADD COLUMN waitlist_position integer;\n"
        "UPDATE bookings SET waitlist_position = id WHERE id <= 3;",
        "ALTER TABLE bookings DROP COLUMN waitlist_position;",
    ),
    "0003_index_waitlist": (
        "CREATE INDEX bookings_waitlist_idx ON bookings (waitlist_position);",
        "DROP INDEX bookings_waitlist_idx;",
    ),
}


def sql_project(
    base_dir: Path,
    database: Database,
    *,
    broken_second_down: bool = False,
    lock_timeout: str = "30s",
) -> Project:
    folder = base_dir / "migrations"
    folder.mkdir()
    for stem, (up, down) in SQL_FILES.items():
        if broken_second_down and stem.startswith("0002"):
            down = f"{down}\n{FAILING_DOWN};"
        (folder / f"{stem}.up.sql").write_text(up + "\n")
        (folder / f"{stem}.down.sql").write_text(down + "\n")
    adapter = build(base_dir, database, "sql", directory="migrations", lock_timeout=lock_timeout)
    upgrade = adapter.upgrade  # type: ignore[attr-defined]
    return Project("sql", adapter, ["0001", "0002", "0003"], upgrade, database)


# --- alembic: a project made by `alembic init`, with three revisions -------------------------

ALEMBIC_REVISIONS = {
    "c0ffee000001": (
        None,
        "create bookings",
        'op.execute("CREATE TABLE bookings (id serial PRIMARY KEY, member text NOT NULL)")',
        'op.drop_table("bookings")',
    ),
    "c0ffee000002": (
        "c0ffee000001",
        "add waitlist position",
        'op.add_column("bookings", sa.Column("waitlist_position", sa.Integer))\n'
        '    op.execute("UPDATE bookings SET waitlist_position = id WHERE id <= 3")',
        'op.drop_column("bookings", "waitlist_position")',
    ),
    "c0ffee000003": (
        "c0ffee000002",
        "index waitlist",
        'op.create_index("bookings_waitlist_idx", "bookings", ["waitlist_position"])',
        'op.drop_index("bookings_waitlist_idx", table_name="bookings")',
    ),
}
ALEMBIC_VERSION = '''"""{message}"""
from alembic import op
import sqlalchemy as sa

revision = "{revision}"
down_revision = {down!r}


def upgrade():
    {up}


def downgrade():
    {down_code}
'''


def alembic_project(
    base_dir: Path,
    database: Database,
    *,
    broken_second_down: bool = False,
    lock_timeout: str = "30s",
) -> Project:
    """`alembic init` (the generic template, env.py untouched) in base_dir, then 3 revisions."""
    init_config = AlembicConfig(file_=base_dir / "alembic.ini", stdout=io.StringIO())
    command.init(init_config, str(base_dir / "migrations"), template="generic")
    for revision, (down, message, up, down_code) in ALEMBIC_REVISIONS.items():
        if broken_second_down and revision == "c0ffee000002":
            down_code += f'\n    op.execute("{FAILING_DOWN}")'
        text = ALEMBIC_VERSION.format(
            message=message, revision=revision, down=down, up=up, down_code=down_code
        )
        (base_dir / "migrations" / "versions" / f"{revision}.py").write_text(text)
    adapter = build(
        base_dir,
        database,
        "alembic",
        script_location="migrations",
        ini="alembic.ini",
        lock_timeout=lock_timeout,
    )

    def upgrade(revision: str) -> None:
        config = AlembicConfig(stdout=io.StringIO())
        config.set_main_option("script_location", str(base_dir / "migrations"))
        config.set_main_option("path_separator", "os")
        config.set_main_option("sqlalchemy.url", sqlalchemy_url(database.conninfo))
        command.upgrade(config, revision)

    return Project("alembic", adapter, list(ALEMBIC_REVISIONS), upgrade, database)


# --- prisma: prisma/migrations/<timestamp>_<name>/migration.sql + down.sql -------------------
# Written by hand as Prisma writes them: the Prisma CLI cannot run here (it downloads its schema
# engine at first use), so none of this was checked against the real CLI.

PRISMA_MIGRATIONS = {
    "20240601120000_create_bookings": (
        '-- CreateTable\nCREATE TABLE "bookings" (\n    "id" SERIAL NOT NULL,\n'
        '    "member" TEXT NOT NULL,\n\n    CONSTRAINT "bookings_pkey" PRIMARY KEY ("id")\n);\n',
        '-- DropTable\nDROP TABLE "bookings";\n',
    ),
    "20240602120000_add_waitlist_position": (
        '-- AlterTable\nALTER TABLE "bookings" ADD COLUMN "waitlist_position" INTEGER;\n\n'
        'UPDATE "bookings" SET "waitlist_position" = "id" WHERE "id" <= 3;\n',
        '-- AlterTable\nALTER TABLE "bookings" DROP COLUMN "waitlist_position";\n',
    ),
    "20240603120000_index_waitlist": (
        '-- CreateIndex\nCREATE INDEX "bookings_waitlist_idx" ON "bookings"("waitlist_position");\n',
        '-- DropIndex\nDROP INDEX "bookings_waitlist_idx";\n',
    ),
}
PRISMA_LOCK = (
    "# Please do not edit this file manually\n"
    "# It should be added in your version-control system (e.g., Git)\n"
    'provider = "postgresql"\n'
)
# The table as Prisma's schema engine creates it on PostgreSQL (schema-engine/ARCHITECTURE.md).
PRISMA_TABLE = """
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)"""


def prisma_project(
    base_dir: Path,
    database: Database,
    *,
    broken_second_down: bool = False,
    lock_timeout: str = "30s",
) -> Project:
    folder = base_dir / "prisma" / "migrations"
    folder.mkdir(parents=True)
    (folder / "migration_lock.toml").write_text(PRISMA_LOCK)
    for name, (up, down) in PRISMA_MIGRATIONS.items():
        if broken_second_down and "waitlist_position" in name:
            down = f"{down}{FAILING_DOWN};\n"
        (folder / name).mkdir()
        (folder / name / "migration.sql").write_text(up)
        (folder / name / "down.sql").write_text(down)
    adapter = build(
        base_dir, database, "prisma", migrations_dir="prisma/migrations", lock_timeout=lock_timeout
    )

    def upgrade(revision: str) -> None:
        prisma_deploy(database, folder, up_to=revision)

    return Project("prisma", adapter, list(PRISMA_MIGRATIONS), upgrade, database)


def prisma_deploy(database: Database, folder: Path, *, up_to: str | None = None) -> list[str]:
    """What `prisma migrate deploy` does, after Prisma's engine source (apply_migrations.rs):
    under advisory lock 72707369, refuse failed rows, then apply each folder that has no row
    with rolled_back_at null: insert the row (checksum = sha256 hex of migration.sql), run the
    script, set finished_at. A re-implementation: not the real CLI."""
    applied = []
    with psycopg.connect(database.conninfo, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(72707369)")
        connection.execute(PRISMA_TABLE)
        rows = connection.execute(
            'SELECT migration_name, finished_at, rolled_back_at FROM "_prisma_migrations"'
        ).fetchall()
        if any(finished is None and rolled_back is None for _, finished, rolled_back in rows):
            raise RuntimeError("P3009: found failed migrations")
        live = {name for name, _, rolled_back in rows if rolled_back is None}
        for path in sorted(p for p in folder.iterdir() if (p / "migration.sql").is_file()):
            if up_to is not None and path.name > up_to:
                break
            if path.name in live:
                continue
            _prisma_apply(connection, path)
            applied.append(path.name)
        connection.execute("SELECT pg_advisory_unlock(72707369)")
    return applied


def _prisma_apply(connection: psycopg.Connection[tuple[object, ...]], path: Path) -> None:
    script = (path / "migration.sql").read_bytes()
    migration_id = str(uuid.uuid4())
    connection.execute(
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) '
        "VALUES (%s, %s, %s, now())",
        [migration_id, hashlib.sha256(script).hexdigest(), path.name],
    )
    connection.execute(script)
    connection.execute(
        'UPDATE "_prisma_migrations" SET applied_steps_count = applied_steps_count + 1, '
        "finished_at = now() WHERE id = %s",
        [migration_id],
    )


ProjectFactory = Callable[..., Project]  # (broken_second_down=, lock_timeout=, on=) -> Project
PROJECTS = {"sql": sql_project, "alembic": alembic_project, "prisma": prisma_project}
