"""Integrity verifications of a database, compared with the row counts of a recorded backup."""

from __future__ import annotations

from sqlalchemy import select

from backout.db.connection import Database
from backout.db.integrity import IntegrityReport, verify
from backout.errors import NotFoundError
from backout.runtime import Runtime
from backout.store import BackupRecord


def reference_counts(
    runtime: Runtime, name: str, backup_id: str | None
) -> tuple[str, dict[str, int]] | None:
    """The row counts recorded with `backup_id` (default: the newest backup backout took)."""
    with runtime.store.session() as session:
        query = select(BackupRecord).where(
            BackupRecord.environment == runtime.environment, BackupRecord.database == name
        )
        if backup_id is not None:
            query = query.where(BackupRecord.backup_id == backup_id)
        record = session.scalars(query.order_by(BackupRecord.id.desc())).first()
        if record is None:
            if backup_id is not None:
                raise NotFoundError(
                    f"backout has no record of backup {backup_id!r} of {name!r}",
                    hint=f"list them with: backout db backups {name}",
                )
            return None
        return record.backup_id, dict(record.row_counts or {})


def verify_database(
    runtime: Runtime,
    name: str,
    *,
    backup_id: str | None = None,
    conninfo: str | None = None,
    estimate: bool = False,
) -> tuple[IntegrityReport, str | None]:
    """The integrity report, counts compared with a backup's (default: the newest one).

    `conninfo` checks another copy of the database (a restore) with the same settings;
    `estimate` takes row counts from the planner's statistics instead of counting.
    """
    reference = reference_counts(runtime, name, backup_id)
    target = (
        runtime.database(name) if conninfo is None else Database(f"{name} (restored)", conninfo)
    )
    report = verify(
        target,
        runtime.config.database(name).integrity,
        reference_counts=reference[1] if reference else None,
        estimate=estimate,
    )
    return report, reference[0] if reference else None
