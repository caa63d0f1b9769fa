"""What a restore of a database to a time would do, read before anyone confirms it: the backup
it starts from, the data-loss window (every write after the target is not in the restored data:
it goes to the lost-writes report), and where the restored data lands. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backout.db.backup import PhysicalBackupEngine, backup_engine_for
from backout.errors import RefusedError
from backout.operations.database import list_backups
from backout.runtime import Runtime


@dataclass(frozen=True)
class RestorePreview:
    database: str
    target: datetime
    now: datetime
    from_backup: dict[str, Any]  # the newest backup finished at or before the target
    earliest: datetime  # the earliest moment a restore can reach: the first backup's end
    in_place: bool

    @property
    def loss_window_s(self) -> float:
        """How much of the recent past the restored data lacks: from the target to now."""
        return (self.now - self.target).total_seconds()


def reaches_any_moment(runtime: Runtime, name: str) -> bool:
    """Whether database `name`'s engine restores to any moment (physical: base backup + WAL).
    NotFoundError for an unknown name, listing the known ones."""
    return isinstance(backup_engine_for(runtime.config, name), PhysicalBackupEngine)


def preview_restore(
    runtime: Runtime, name: str, *, to_time: datetime, in_place: bool
) -> RestorePreview:
    """RefusedError for a time no backup reaches (before the first backup ended, or to come),
    and for an engine whose backups restore only to the moment they were taken (pg_dump)."""
    if not reaches_any_moment(runtime, name):
        raise RefusedError(
            f"the backups of {name} restore only to the moment they were taken, not to a time",
            hint=f"name a backup: backout db restore {name} --backup ID; or use pgbackrest",
        )
    now = runtime.clock.now()
    backups = list_backups(runtime, name)
    if not backups:
        raise RefusedError(
            f"database {name} has no backup to restore from",
            hint=f"take one first: backout db backup {name}",
        )
    earliest = datetime.fromisoformat(backups[0]["finished_at"])
    if to_time > now:
        raise RefusedError(f"{to_time.isoformat()} is still to come: restore to a past moment")
    if to_time < earliest:
        raise RefusedError(
            f"{to_time.isoformat()} is before the first backup of {name} ended "
            f"({earliest.isoformat()}): no restore can reach it"
        )
    ended_before = [b for b in backups if datetime.fromisoformat(b["finished_at"]) <= to_time]
    return RestorePreview(name, to_time, now, ended_before[-1], earliest, in_place)
