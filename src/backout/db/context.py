"""What every database plug-in (backup engine, migration adapter) is built with."""

from __future__ import annotations

from dataclasses import dataclass

from backout.config import ClusterSettings, Config
from backout.db.connection import Database
from backout.errors import BackoutError
from backout.registry import PluginContext


@dataclass(frozen=True)
class DbPluginContext(PluginContext):
    """A database plug-in's context: `service` is the database's name under `databases:`."""

    database: Database
    cluster: ClusterSettings | None

    @classmethod
    def of(cls, context: PluginContext, plugin: str) -> DbPluginContext:
        """The context as a DbPluginContext; an error when built for something else."""
        if isinstance(context, DbPluginContext):
            return context
        raise BackoutError(
            f"{plugin} is a database plug-in and was built without its database",
            hint="build it with backup_engine_for or migration_adapter_for(config, name)",
        )


def db_plugin_context(config: Config, name: str) -> DbPluginContext:
    """The context a plug-in of database `name` is built with."""
    database = config.database(name)
    return DbPluginContext(
        service=name,
        config_file=config.source,
        base_dir=config.base_dir,
        state_dir=config.state_dir,
        environment=config.environment,
        database=Database(name, database.url),
        cluster=database.cluster,
    )
