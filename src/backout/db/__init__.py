"""PostgreSQL: backups, point-in-time restore, table restore, schema revert, integrity."""
