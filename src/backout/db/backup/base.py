"""The BackupEngine interface: take, list, verify, expire and restore PostgreSQL backups.

    required_settings()     the postgresql.conf settings this engine needs (archive_command,
                            wal_level ...): `backout db setup` prints or applies them. Pure.
    backup(kind)            take a backup now and return its record. May take minutes; not
                            idempotent (each call is a new backup); atomic: a failed backup
                            leaves no record that looks complete.
    backups()               every backup in the repository, oldest first. Read-only, quick.
    verify(backup_id)       check a backup can be restored (checksums, WAL continuity); returns
                            what was checked. Read-only; may take minutes.
    expire()                delete what the retention policy no longer keeps; returns the ids
                            deleted. Idempotent.
    restore(target, into)   materialise the database as of `target` (a backup, a time, a
                            restore point) into the new, empty data directory `into`, ready for
                            `pg_ctl start`. Never touches the live cluster; re-running it on the
                            same `into` starts over. May take minutes.
    newest_restorable()     the newest moment a restore could reach now (end of the newest
                            archived or streamed WAL): what the achieved RPO is measured from.

Errors: BackupError (retryable when the repository or server is only briefly unreachable),
translated from the tool's exit codes and output; RestoreTargetError when a target lies
before the first backup or past the newest WAL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from backout.errors import StepFailedError

BackupKind = Literal["logical", "full", "diff", "incr"]


class BackupError(StepFailedError):
    """A backup, verification or restore did not complete."""


class RestoreTargetError(StepFailedError):
    """The requested moment cannot be restored (before the first backup, past the newest WAL)."""


@dataclass(frozen=True)
class BackupInfo:
    id: str
    kind: BackupKind
    started_at: datetime
    finished_at: datetime
    size_bytes: int | None
    wal_start: str | None = None  # LSN or WAL file name, for physical backups
    wal_stop: str | None = None
    location: str = ""  # where it is: a file path, a repository and set label
    verified: bool | None = None


@dataclass(frozen=True)
class RestoreTarget:
    """Exactly one of: a backup as it was, a moment in time, or a named restore point."""

    backup_id: str | None = None
    time: datetime | None = None
    restore_point: str | None = None
    inclusive: bool = True

    def __post_init__(self) -> None:
        given = [v for v in (self.backup_id, self.time, self.restore_point) if v is not None]
        if len(given) > 1 and not (self.backup_id and self.time):
            raise ValueError("a restore target is a backup, a time or a restore point")


@dataclass(frozen=True)
class VerifyReport:
    backup_id: str
    ok: bool
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@runtime_checkable
class BackupEngine(Protocol):
    def required_settings(self) -> dict[str, str]: ...

    def backup(self, kind: BackupKind) -> BackupInfo: ...

    def backups(self) -> list[BackupInfo]: ...

    def verify(self, backup_id: str) -> VerifyReport: ...

    def expire(self) -> list[str]: ...

    def restore(self, target: RestoreTarget, into: Path) -> None: ...

    def newest_restorable(self) -> datetime | None: ...
