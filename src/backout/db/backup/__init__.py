"""Backup engines: how a database is backed up and restored. Picked by `backup.type` in config.

pg_dump     logical backups (pg_dump -Fc), restored into a database      (the default)
pgbackrest  physical backups and point-in-time restores into a data directory
"""

from __future__ import annotations

from backout.config import Config
from backout.db.backup.base import (
    BackupEngine,
    BackupError,
    BackupInfo,
    BackupKind,
    LogicalBackupEngine,
    PhysicalBackupEngine,
    RestoreTarget,
    RestoreTargetError,
    UnknownBackupError,
    VerifyReport,
)
from backout.db.backup.pg_dump import PgDumpEngine, PgDumpSettings
from backout.db.backup.pgbackrest import PgBackRestEngine, PgBackRestSettings
from backout.db.context import DbPluginContext, db_plugin_context
from backout.registry import Registry

BACKUP_ENGINES: Registry[BackupEngine] = Registry("backup engine")
BACKUP_ENGINES.register("pg_dump", PgDumpSettings, PgDumpEngine)
BACKUP_ENGINES.register("pgbackrest", PgBackRestSettings, PgBackRestEngine)


def backup_engine_for(config: Config, name: str) -> BackupEngine:
    """The backup engine of database `name`, built from its `backup:` section."""
    context = db_plugin_context(config, name)
    return BACKUP_ENGINES.build(
        config.database(name).backup, ("databases", name, "backup"), context
    )


__all__ = [
    "BACKUP_ENGINES",
    "BackupEngine",
    "BackupError",
    "BackupInfo",
    "BackupKind",
    "DbPluginContext",
    "LogicalBackupEngine",
    "PhysicalBackupEngine",
    "RestoreTarget",
    "RestoreTargetError",
    "UnknownBackupError",
    "VerifyReport",
    "backup_engine_for",
    "db_plugin_context",
]
