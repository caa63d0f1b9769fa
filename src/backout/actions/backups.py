"""Backups taken by backout, recorded with their row counts and who asked for them."""

from __future__ import annotations

from sqlalchemy import select

from backout.audit import audit
from backout.db.backup import (
    BackupEngine,
    BackupError,
    BackupInfo,
    BackupKind,
    LogicalBackupEngine,
    VerifyReport,
    backup_engine_for,
)
from backout.db.integrity import row_counts
from backout.runtime import Runtime
from backout.store import BackupRecord


def take_backup(
    runtime: Runtime,
    name: str,
    *,
    kind: BackupKind | None,
    actor: str,
    reason: str | None = None,
    run_id: int | None = None,
) -> tuple[BackupInfo, dict[str, int]]:
    """Take a backup, and record it with its row counts: exact for a logical backup (counted
    on the dump's snapshot), counted on the live database just after it for a physical one."""
    config = runtime.config.database(name)
    engine = backup_engine_for(runtime.config, name)
    info = engine.backup(kind)  # None: the engine's default kind
    if isinstance(engine, LogicalBackupEngine):
        counts = engine.row_counts(info.id)
    else:
        counts = row_counts(runtime.database(name))
    with runtime.store.session() as session:
        session.add(
            BackupRecord(
                environment=runtime.environment,
                database=name,
                engine=config.backup.type,
                backup_id=info.id,
                kind=info.kind,
                location=info.location,
                started_at=info.started_at,
                finished_at=info.finished_at,
                size_bytes=info.size_bytes,
                row_counts=counts,
                reason=reason,
                run_id=run_id,
                created_by=actor,
            )
        )
        audit(session, actor, "db.backup", name, backup_id=info.id, location=info.location)
    # No expiry here: a backup taken before a change (a restore-table --replace, a revert)
    # must never delete the backup or WAL that change may need to be undone; see expire_backups.
    return info, counts


def backup_taken_by_run(runtime: Runtime, name: str, run_id: int) -> BackupRecord | None:
    """The backup a run already took of `name`, if any (so a resumed run does not take two)."""
    with runtime.store.session() as session:
        return session.scalars(
            select(BackupRecord)
            .where(BackupRecord.database == name, BackupRecord.run_id == run_id)
            .order_by(BackupRecord.id.desc())
        ).first()


def require_checked(engine: BackupEngine, backup_id: str, described: str) -> VerifyReport:
    """The engine's check of a backup taken before a destructive change; BackupError (nothing
    changed yet) when it fails. `described` names the backup in the message."""
    report = engine.verify(backup_id)
    if not report.ok:
        raise BackupError(
            f"{described} did not pass its check: " + "; ".join(report.problems),
            hint="nothing was replaced; look at the backup repository before trying again",
        )
    return report
