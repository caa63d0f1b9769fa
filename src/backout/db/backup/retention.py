"""Which backups retention may delete: never one a restore inside the recovery window needs.

A backup is kept when any of these holds:

- it is one of the newest `keep_full` full backups (a logical backup counts as a full one), or
  a differential/incremental backup taken after the oldest of them;
- a moment inside the recovery window (from `now - window` to now) is restored from it: the
  newest backup restorable at `now - window` (a logical one from its snapshot, a physical one
  from its end), the full backup it depends on, and every
  backup after them (the WAL between them is what a point-in-time restore replays);
- it is named in `keep` (a backup someone is about to read), with the full one it depends on
  and every backup after it.

What is older than the oldest backup kept is what may go, oldest first. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from backout.db.backup.base import BackupInfo

_SELF_CONTAINED = ("full", "logical")  # a backup that needs no earlier one to restore


def expendable(
    backups: Sequence[BackupInfo],
    *,
    keep_full: int,
    window: timedelta,
    now: datetime,
    keep: Collection[str] = (),
) -> list[str]:
    """The ids of the backups (given oldest first) retention may delete, oldest first."""
    if not backups:
        return []
    oldest_kept = len(backups) - 1
    fulls = [i for i, b in enumerate(backups) if b.kind in _SELF_CONTAINED]
    if fulls:
        oldest_kept = min(oldest_kept, fulls[-min(keep_full, len(fulls))])
    cutoff = now - window
    before_window = [i for i, b in enumerate(backups) if _restores_from(b) <= cutoff]
    # No backup finished before the window opened: every one of them is inside it.
    oldest_kept = min(oldest_kept, before_window[-1] if before_window else 0)
    for i, backup in enumerate(backups):
        if backup.id in keep:
            oldest_kept = min(oldest_kept, i)
    start = _chain_start(backups, oldest_kept)
    return [b.id for b in backups[:start]]


def _restores_from(backup: BackupInfo) -> datetime:
    """The first moment a restore from it reaches: a logical backup's snapshot, a physical
    backup's end (recovery replays the WAL written while it was taken)."""
    return backup.started_at if backup.kind == "logical" else backup.finished_at


def _chain_start(backups: Sequence[BackupInfo], index: int) -> int:
    """The index of the self-contained backup `backups[index]` is restored from (0 if none)."""
    while index > 0 and backups[index].kind not in _SELF_CONTAINED:
        index -= 1
    return index
