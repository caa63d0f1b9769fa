"""Migration adapters: read a schema's migrations and revert them. Picked by
`databases.<name>.migrations.type` in config (alembic, prisma, sql); built with a
DbPluginContext by `migration_adapter_for(config, name)`. See base.py for the contract."""

from backout.config import Config
from backout.db.context import DbPluginContext, db_plugin_context
from backout.db.migrations.base import (
    BASE,
    DataLoss,
    Migration,
    MigrationAdapter,
    MigrationError,
    MigrationStatus,
    RevertPlan,
    RevertStep,
    Unclassified,
    UnknownRevisionError,
)
from backout.errors import NotFoundError
from backout.registry import Registry

MIGRATION_ADAPTERS: Registry[MigrationAdapter] = Registry("migration tool")

try:
    import pglast  # noqa: F401  (every adapter classifies its down steps with it)
except ImportError:  # pragma: no cover - pglast is a dependency; this only names what is missing
    for _name in ("alembic", "prisma", "sql"):
        MIGRATION_ADAPTERS.register_unavailable(
            _name, "pglast is not installed: pip install pglast"
        )
else:
    from backout.db.migrations.alembic import AlembicAdapter, AlembicSettings
    from backout.db.migrations.prisma import PrismaAdapter, PrismaSettings
    from backout.db.migrations.sql_files import SqlFilesAdapter, SqlFilesSettings

    MIGRATION_ADAPTERS.register("alembic", AlembicSettings, AlembicAdapter)
    MIGRATION_ADAPTERS.register("prisma", PrismaSettings, PrismaAdapter)
    MIGRATION_ADAPTERS.register("sql", SqlFilesSettings, SqlFilesAdapter)


def migration_adapter_for(config: Config, name: str) -> MigrationAdapter:
    """The migration adapter of database `name`, built from its `migrations:` section."""
    spec = config.database(name).migrations
    if spec is None:
        raise NotFoundError(
            f"database {name!r} names no migration tool",
            hint=f"add databases.{name}.migrations with type: alembic, prisma or sql",
        )
    where = ("databases", name, "migrations")
    return MIGRATION_ADAPTERS.build(spec, where, db_plugin_context(config, name))


__all__ = [
    "BASE",
    "MIGRATION_ADAPTERS",
    "DataLoss",
    "DbPluginContext",
    "Migration",
    "MigrationAdapter",
    "MigrationError",
    "MigrationStatus",
    "RevertPlan",
    "RevertStep",
    "Unclassified",
    "UnknownRevisionError",
    "migration_adapter_for",
]
