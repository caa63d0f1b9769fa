"""The backup engines' interfaces: take, list, verify, expire and restore PostgreSQL backups.

Two kinds of engine share one core and differ in where a restore lands:

    LogicalBackupEngine   (pg_dump) restores one backup into a *database*, optionally only
                          some of its tables. It reaches only the moments its backups were taken.
    PhysicalBackupEngine  (pgBackRest) restores a backup and the archived WAL after it into a
                          *data directory*, to any moment between the end of the first backup
                          and the newest archived commit; `backout.db.cluster.SideCluster`
                          starts that directory beside the live cluster.

Callers tell them apart with `isinstance(engine, PhysicalBackupEngine)`.

The core, every engine:

    kinds                   the BackupKinds backup() accepts; the first is the default.
    required_settings()     the postgresql.conf settings this engine needs, name → value as
                            `ALTER SYSTEM SET name = 'value'` takes it (unquoted): `backout db
                            setup` prints or applies them. Pure.
    backup(kind)            take a backup now and return its record. May take minutes; not
                            idempotent (each call is a new backup); atomic: a failed backup
                            leaves no record that looks complete.
    backups()               every backup in the repository, oldest first. Read-only, quick.
    verify(backup_id)       check a backup can be restored (checksums, WAL continuity); returns
                            what was checked. Never changes the backup; records the outcome
                            beside it so that backups() shows `verified`. May take minutes.
                            UnknownBackupError for an id the repository does not hold.
    expire(now, keep, dry_run)
                            delete the backups (and, physical engines, the WAL) that retention
                            no longer keeps (retention.py: at least the engine's count of full
                            backups, everything a restore to a moment inside its recovery
                            window needs, and the backups named in `keep` with what they need);
                            returns the ids deleted, or with `dry_run` those it would delete.
                            Idempotent. Only `backout db expire` calls it: never a backup, a
                            restore or a run, so nothing a restore may read is deleted under it.
    newest_restorable()     the newest moment a restore could reach now, or None without a
                            backup: what the achieved RPO is measured from. Each engine says how
                            it measures it. Read-only, under a second.

Logical engines:

    restore_database(target, into, tables)
                            restore the backup `target.backup_id` (default: the newest) into the
                            existing, empty database `into`; with `tables`, only those tables'
                            definitions and rows. A time or a restore point is refused with
                            RestoreTargetError. Never touches any other database; atomic when
                            restoring everything (one transaction). May take minutes.

Physical engines:

    restore(target, into, streamed_wal)
                            materialise the cluster as of `target` (a backup, a time, a restore
                            point, or — with no field set — the newest archived state) into the
                            data directory `into`, which is created or emptied first (re-running
                            starts over), owned by the cluster's OS user, ready for
                            SideCluster.start(): recovery to the target runs when it starts.
                            `streamed_wal` is a pg_receivewal folder whose segments (its partial
                            one included) extend what the archive holds. `only_database`: the
                            files of that database (and the system databases) are all a
                            reader needs, the others' may be left empty — the whole cluster
                            when the engine cannot select (the database is not in the backup).
                            Never touches the live cluster. May take minutes.

Plug-in construction: a backup engine is built by `backout.db.backup.BACKUP_ENGINES` with its
settings and a DbPluginContext (a PluginContext that also knows the database and its cluster).

Errors: BackupError (retryable when the repository or server is only briefly unreachable),
translated from the tool's exit codes and output, naming a missing WAL segment when that is the
cause; RestoreTargetError when a target lies before the first backup or past the newest WAL;
UnknownBackupError for an id not in the repository; UnavailableError when a tool is missing or
the server cannot be reached.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from backout.db.connection import Database
from backout.errors import NotFoundError, StepFailedError

BackupKind = Literal["logical", "full", "diff", "incr"]


class BackupError(StepFailedError):
    """A backup, verification or restore did not complete."""


class RestoreTargetError(StepFailedError):
    """The requested moment cannot be restored (before the first backup, past the newest WAL)."""


class UnknownBackupError(NotFoundError):
    def __init__(self, backup_id: str, known: Sequence[str]) -> None:
        self.backup_id = backup_id
        super().__init__(
            f"no backup {backup_id!r} in the repository",
            hint=f"backups: {', '.join(known) or '(none yet: take one with backout db backup)'}",
        )


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
    """A backup as it was, a moment in time, a named restore point, or (nothing set) the newest.

    A backup may accompany a time or a restore point: recovery then starts from that backup.
    A naive `time` is taken as local time.
    """

    backup_id: str | None = None
    time: datetime | None = None
    restore_point: str | None = None
    inclusive: bool = True

    def __post_init__(self) -> None:
        if self.time is not None and self.restore_point is not None:
            raise ValueError("a restore target is a backup, a time or a restore point")

    @property
    def latest(self) -> bool:
        return self.backup_id is None and self.time is None and self.restore_point is None

    def describe(self) -> str:
        """For messages: 'time 2024-05-01T12:00:00+00:00 from backup X'."""
        parts = []
        if self.time is not None:
            parts.append(f"time {self.time.isoformat()}")
        if self.restore_point is not None:
            parts.append(f"restore point {self.restore_point!r}")
        if self.backup_id is not None:
            parts.append(
                f"backup {self.backup_id}" if not parts else f"from backup {self.backup_id}"
            )
        return " ".join(parts) or "the newest archived state"


@dataclass(frozen=True)
class VerifyReport:
    backup_id: str
    ok: bool
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@runtime_checkable
class BackupEngine(Protocol):
    @property
    def kinds(self) -> tuple[BackupKind, ...]: ...

    def required_settings(self) -> dict[str, str]: ...

    def backup(self, kind: BackupKind | None = None) -> BackupInfo: ...

    def backups(self) -> list[BackupInfo]: ...

    def verify(self, backup_id: str) -> VerifyReport: ...

    def expire(
        self, *, now: datetime | None = None, keep: Collection[str] = (), dry_run: bool = False
    ) -> list[str]: ...

    def newest_restorable(self) -> datetime | None: ...


@runtime_checkable
class LogicalBackupEngine(BackupEngine, Protocol):
    def row_counts(self, backup_id: str) -> dict[str, int]:
        """Each table's rows in that backup, counted on the dump's own snapshot."""
        ...

    def restore_database(
        self, target: RestoreTarget, into: Database, *, tables: Sequence[str] = ()
    ) -> None: ...


@runtime_checkable
class PhysicalBackupEngine(BackupEngine, Protocol):
    def restore(
        self,
        target: RestoreTarget,
        into: Path,
        *,
        streamed_wal: Path | None = None,
        only_database: str | None = None,
    ) -> None: ...

    def archive_pending_wal(self, timeout: float) -> bool:
        """Have the live server archive the WAL written so far; False if it could not."""
        ...
