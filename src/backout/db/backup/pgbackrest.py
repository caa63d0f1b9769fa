"""The `pgbackrest` backup engine: physical backups and point-in-time restores with pgBackRest.

    cluster: {data_dir: /var/lib/postgresql/15/main}
    backup:
      type: pgbackrest
      repository: /var/lib/pgbackrest   # repo1-path, relative to the config file
      stanza: main                      # default: the database's name under databases:
      retention_full: 2
      process_max: 2
      archive_timeout: 60s              # PostgreSQL's: the most WAL archiving alone may lose

pgBackRest runs through its own configuration under the state folder, as the cluster's OS
user (pgbackrest_command.py). It connects to the server through its unix socket, whose folder
and port backout asks the server for.

The stanza is created on the first backup (stanza-create is idempotent). A backup first checks
that the server archives through this engine: otherwise pgBackRest would wait for WAL that never
comes. `backups()` reads `pgbackrest info --output=json`. pgBackRest's own expiry after each
backup is off (expire-auto=n): nothing is deleted but by `expire()` (`backout db expire`), which
keeps what retention.py says (at least `retention_full` full backups, and every backup and WAL
segment a restore to a moment inside `recovery_window` needs) and says what it deleted.

The newest restorable moment (`newest_restorable()`) is the time of the last commit (or abort)
in the newest archived WAL segment reachable without a gap from the newest backup, read with
`pg_waldump` from the segment that `archive-get` fetches — or the end of that backup when the
WAL after it records no transaction. It is what a restore can bring back exactly, a lower bound:
on an idle database it lags the present although nothing would be lost.

Continuity: backout lists the archived segments (`repo-ls`) from the chosen backup's first
segment on; a hole means a restore stops there. A target past the hole, a restore point or the
newest state behind one is refused with BackupError naming the missing segment, before anything
is restored. Timelines are not told apart in this check: a segment counts as present on any.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field

from backout.atomic import write_text_atomic
from backout.db import cluster, wal_stream
from backout.db.backup import retention
from backout.db.backup.base import (
    BackupError,
    BackupInfo,
    BackupKind,
    RestoreTarget,
    RestoreTargetError,
    UnknownBackupError,
    VerifyReport,
)
from backout.db.backup.pgbackrest_command import PgBackRestCommand, verify_problems
from backout.db.context import DbPluginContext
from backout.durations import Duration, PositiveDuration
from backout.errors import ConfigError, UnavailableError
from backout.registry import PluginContext, PluginSettings

_ARCHIVED_SEGMENT = re.compile(r"^([0-9A-F]{24})-[0-9a-f]{40}(\.\w+)?$")
_SERVER_SETTINGS = ["port", "unix_socket_directories", "data_directory"]
_SERVER_SETTINGS += ["archive_mode", "archive_command"]
_SYSTEM_DATABASES = {"postgres", "template0", "template1"}  # --db-include refuses them (exit 81)
_DATABASE_MISSING = 80  # pgBackRest's DbMissingError: "database to include ... does not exist"
log = logging.getLogger(__name__)


class PgBackRestSettings(PluginSettings):
    repository: str = Field(
        description="pgBackRest's repository folder (repo1-path), relative to the config file."
    )
    stanza: str | None = Field(
        None, description="The stanza's name (default: the database's name under databases:)."
    )
    retention_full: int = Field(
        2, ge=1, description="How many full backups `backout db expire` keeps at least."
    )
    recovery_window: Duration = Field(
        timedelta(days=7),
        description="`backout db expire` keeps every backup and WAL segment needed to restore "
        "to any moment this far back.",
    )
    process_max: int = Field(2, ge=1, le=64, description="Parallel processes of backup/restore.")
    archive_timeout: PositiveDuration = Field(
        timedelta(seconds=60),
        description="PostgreSQL's archive_timeout: a segment is archived at least this often, "
        "so archiving alone loses at most this much.",
    )
    compress_type: Literal["lz4", "zst", "gz", "bz2", "none"] = Field(
        "lz4", description="Compression of the repository's files."
    )
    timeout: PositiveDuration = Field(
        timedelta(hours=1), description="How long one backup, verify or restore may take."
    )


class PgBackRestEngine:
    """Full, differential and incremental backups and PITR restores through pgBackRest."""

    kinds: tuple[BackupKind, ...] = ("full", "diff", "incr")

    def __init__(self, settings: PgBackRestSettings, context: PluginContext) -> None:
        db = DbPluginContext.of(context, "the pgbackrest backup engine")
        if db.cluster is None:
            where = f"databases.{db.service}.cluster"
            problem = f"{where}: required by the pgbackrest backup engine (its data_dir at least)"
            raise ConfigError(str(context.config_file), [problem])
        self._settings = settings
        self._database = db.database
        self._data_dir = context.resolve(db.cluster.data_dir)
        self._bindir = Path(db.cluster.bindir)
        self._user = cluster.os_user_for(self._data_dir, db.cluster.os_user)
        self._stanza = settings.stanza or db.service
        self._repository = context.resolve(settings.repository)
        self._home = db.state_dir / "pgbackrest" / self._stanza
        self._command = PgBackRestCommand(
            home=self._home,
            repository=self._repository,
            stanza=self._stanza,
            data_dir=self._data_dir,
            user=self._user,
            database=self._database,
            global_options={
                "repo1-retention-full": str(settings.retention_full),
                "process-max": str(settings.process_max),
                "compress-type": settings.compress_type,
            },
        )
        self._stanza_created = False
        self._segment_size: int | None = None

    @property
    def config_file(self) -> Path:
        return self._command.config_file

    @property
    def stanza(self) -> str:
        return self._stanza

    def required_settings(self) -> dict[str, str]:
        seconds = max(1, round(self._settings.archive_timeout.total_seconds()))
        return {
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": self._command.archive_command(),
            "archive_timeout": f"{seconds}s",
        }

    def backup(self, kind: BackupKind | None = None) -> BackupInfo:
        kind = kind or "full"
        if kind not in self.kinds:
            raise BackupError(f"pgbackrest takes full, diff or incr backups, not {kind!r}")
        server = self._server_options()
        if not self._stanza_created:
            self._command.run(["stanza-create"], server=server)
            self._stanza_created = True
        before = {b.id for b in self.backups()}
        self._command.run(["backup", f"--type={kind}"], server=server, timeout=self._timeout)
        new = [b for b in self.backups() if b.id not in before]
        if not new:
            raise BackupError("pgbackrest backup succeeded but the repository lists no new backup")
        return new[-1]

    def backups(self) -> list[BackupInfo]:
        verified = self._verified()
        return [self._info(entry, verified) for entry in self._stanza_info().get("backup", [])]

    def verify(self, backup_id: str) -> VerifyReport:
        backup = self._backup(backup_id, self.backups())
        done = self._command.run(
            ["verify", f"--set={backup_id}", "--log-level-console=detail"],
            timeout=self._timeout,
            check=False,
        )
        problems = verify_problems(done)
        reach = self._reach(backup)
        if reach.missing:
            problems.append(self._gap_sentence(reach, backup))
        checked = [
            "checksums and sizes of the backup's files and the archived WAL (pgbackrest verify)",
            f"WAL continuity from {backup.wal_start} to the newest archived segment",
        ]
        report = VerifyReport(backup_id, not problems, checked, problems)
        self._record_verified(backup_id, report.ok)
        return report

    def archive_pending_wal(self, timeout: float) -> bool:
        """Close the live server's current WAL segment and wait until it is archived.

        A restore to a moment seconds ago then need not wait for archive_timeout. False when
        the server cannot be reached or the segment is not archived within `timeout`.
        """
        try:
            with self._database.connect(autocommit=True) as connection:
                row = connection.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
                finished = str(row[0]) if row else ""
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    archived = connection.execute(
                        "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"
                    ).fetchone()
                    if archived and str(archived[0])[8:] >= finished[8:]:
                        return True
                    time.sleep(0.1)
        except (UnavailableError, psycopg.Error):
            return False
        return False

    def expire(
        self, *, now: datetime | None = None, keep: Collection[str] = (), dry_run: bool = False
    ) -> list[str]:
        backups = self.backups()
        doomed = retention.expendable(
            backups,
            keep_full=self._settings.retention_full,
            window=self._settings.recovery_window,
            now=now or datetime.now(UTC),
            keep=keep,
        )
        if dry_run or not doomed:
            return doomed
        # pgBackRest keeps that many full backups, their dependents and the WAL from the oldest
        # one on (repo1-retention-archive follows repo1-retention-full): exactly what is kept.
        kept_full = sum(1 for b in backups if b.kind == "full" and b.id not in doomed)
        self._command.run(["expire", f"--repo1-retention-full={kept_full}"], timeout=self._timeout)
        after = {b.id for b in self.backups()}
        return [b.id for b in backups if b.id not in after]

    def newest_restorable(self) -> datetime | None:
        """The last commit of the archived WAL after the newest backup (see the module doc)."""
        backups = self.backups()
        return self._reach(backups[-1]).time if backups else None

    def restore(
        self,
        target: RestoreTarget,
        into: Path,
        *,
        streamed_wal: Path | None = None,
        only_database: str | None = None,
    ) -> None:
        backups = self.backups()
        if not backups:
            raise BackupError(
                f"stanza {self._stanza!r} holds no backup to restore",
                hint="take one: backout db backup",
            )
        base = self._choose_backup(target, backups)
        options = self._target_options(target, base, streamed_wal)
        into = into.absolute()
        self._fresh_directory(into)
        restore = ["restore", f"--pg1-path={into}", f"--set={base.id}", *options]
        if not self._restored_selectively(restore, into, only_database):
            self._command.run(restore, timeout=self._timeout)
        if streamed_wal is not None:
            wal_stream.add_streamed_wal(streamed_wal, into, self._user, from_segment=base.wal_start)

    def _restored_selectively(self, restore: list[str], into: Path, database: str | None) -> bool:
        """Restore only `database`'s files (--db-include): the other databases' are left empty.

        False, with `into` emptied again, when there is nothing to select (no database, or a
        system database, which pgBackRest always restores) or the backup lacks the database
        (created after it: the WAL replayed creates it, so only a whole restore has it).
        """
        if database is None or database in _SYSTEM_DATABASES:
            return False
        done = self._command.run(
            [*restore, f"--db-include={database}"], timeout=self._timeout, check=False
        )
        if done.returncode == 0:
            return True
        if done.returncode != _DATABASE_MISSING:
            raise self._command.failure("restore", done)
        log.info("database %s is not in the backup: restoring every database", database)
        self._fresh_directory(into)
        return False

    def _choose_backup(self, target: RestoreTarget, backups: list[BackupInfo]) -> BackupInfo:
        """The backup recovery starts from: the one named, else the newest before the time."""
        named = self._backup(target.backup_id, backups) if target.backup_id else None
        if target.time is None:
            return named or backups[-1]
        moment = target.time.astimezone(UTC)
        first = named or backups[0]
        if moment < first.finished_at:
            which = f"backup {named.id}" if named else "the first backup"
            raise RestoreTargetError(
                f"cannot restore to {moment.isoformat()}: it is before {which} finished "
                f"({first.finished_at.isoformat()})",
                hint="a physical restore reaches moments from the end of a backup on",
            )
        return named or [b for b in backups if b.finished_at <= moment][-1]

    def _target_options(
        self, target: RestoreTarget, base: BackupInfo, streamed_wal: Path | None
    ) -> list[str]:
        """pgbackrest restore's --type/--target options, once the WAL is known to reach it."""
        promote = "--target-action=promote"
        reach = self._reach(base, streamed_wal)
        if target.time is not None:
            moment = target.time.astimezone(UTC)
            if moment > reach.time:
                if reach.missing:
                    raise BackupError(self._gap_sentence(reach, base, target))
                raise RestoreTargetError(
                    f"cannot restore to {moment.isoformat()}: the archived WAL ends with the "
                    f"commit of {reach.time.isoformat()}",
                    hint="restore to that moment or earlier, or wait for archive_timeout",
                )
            if moment == reach.time and target.inclusive:
                return ["--type=default"]  # no later commit would stop recovery at the target
            options = ["--type=time", f"--target={moment:%Y-%m-%d %H:%M:%S.%f}+00", promote]
            return options if target.inclusive else [*options, "--target-exclusive"]
        if target.restore_point is not None:
            if reach.missing:
                raise BackupError(self._gap_sentence(reach, base, target))
            return ["--type=name", f"--target={target.restore_point}", promote]
        if target.backup_id is not None:
            if reach.missing and reach.missing[8:] <= (base.wal_stop or "")[8:]:
                raise BackupError(self._gap_sentence(reach, base, target))
            return ["--type=immediate", promote]
        if reach.missing:
            raise BackupError(self._gap_sentence(reach, base, target))
        return ["--type=default"]

    def _gap_sentence(
        self, reach: wal_stream.WalReach, base: BackupInfo, target: RestoreTarget | None = None
    ) -> str:
        wanted = f", not {target.describe()}" if target else ""
        return (
            f"WAL segment {reach.missing} is missing from the repository of stanza "
            f"{self._stanza!r}: a restore from backup {base.id} reaches only "
            f"{reach.time.isoformat()}{wanted}"
        )

    def _reach(self, base: BackupInfo, streamed_wal: Path | None = None) -> wal_stream.WalReach:
        """How far the WAL after `base` goes: archived, plus streamed when given."""
        streamed = wal_stream.streamed_segments(streamed_wal) if streamed_wal else []
        return wal_stream.wal_reach(
            base.wal_start or "",
            [*sorted(self._archived_segments()), *streamed],
            floor=base.finished_at,
            segment_size=self._wal_segment_size(),
            transaction_time=self._transaction_time,
        )

    def _transaction_time(self, segment: str | Path) -> datetime | None:
        if isinstance(segment, Path):
            return wal_stream.last_transaction_time(segment, self._bindir)
        scratch = Path(tempfile.mkdtemp(prefix="backout-archive-get-"))
        try:
            cluster.give_to(scratch, self._user)
            self._command.run(["archive-get", segment, str(scratch / segment)])
            return wal_stream.last_transaction_time(scratch / segment, self._bindir)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _archived_segments(self) -> list[str]:
        archives = self._stanza_info().get("archive", [])
        if not archives:
            return []
        where = f"archive/{self._stanza}/{archives[-1]['id']}"
        done = self._command.run(["repo-ls", "--recurse", "--output=json", where])
        names = (Path(path).name for path in json.loads(done.stdout or "{}"))
        return [m.group(1) for m in map(_ARCHIVED_SEGMENT.match, names) if m]

    def _wal_segment_size(self) -> int:
        if self._segment_size is None:
            self._segment_size = wal_stream.wal_segment_size(
                self._data_dir, self._bindir, self._user
            )
        return self._segment_size

    def _fresh_directory(self, into: Path) -> None:
        if into.resolve() == self._data_dir.resolve():
            raise BackupError(f"refusing to restore over the live data directory {into}")
        if (into / "postmaster.pid").exists():
            raise BackupError(f"refusing to restore into {into}: a server may be running on it")
        shutil.rmtree(into, ignore_errors=True)
        into.mkdir(mode=0o700, parents=True)
        cluster.give_to(into, self._user)
        cluster.check_reachable(into, self._user)

    def _server_options(self) -> list[str]:
        """How pgBackRest reaches the live server, once it is known to archive through us."""
        settings = cluster.server_settings(self._database, _SERVER_SETTINGS)
        socket_dir = settings.get("unix_socket_directories", "").split(",")[0].strip()
        if not socket_dir or "data_directory" not in settings:
            raise BackupError(
                f"pgBackRest needs the unix socket and data_directory of {self._database.name!r}",
                hint="connect as a superuser (or a member of pg_read_all_settings) and keep "
                "unix_socket_directories set",
            )
        if Path(settings["data_directory"]).resolve() != self._data_dir.resolve():
            raise BackupError(
                f"cluster.data_dir {self._data_dir} is not the data directory of the server "
                f"at {self._database.describe()} ({settings['data_directory']})"
            )
        wanted = self.required_settings()
        wrong = [
            f"{name} is {settings.get(name)!r}, not {wanted[name]!r}"
            for name in ("archive_mode", "archive_command")
            if settings.get(name) not in (wanted[name], "always" if name == "archive_mode" else "")
        ]
        if wrong:
            raise BackupError(
                f"{self._database.name!r} does not archive its WAL through pgBackRest: "
                + "; ".join(wrong),
                hint=f"backout db setup {self._database.name} --apply (archive_mode needs a "
                "restart)",
            )
        params = conninfo_to_dict(self._database.conninfo)
        options = [f"--pg1-port={settings['port']}", f"--pg1-socket-path={socket_dir}"]
        options += [f"--pg1-user={params['user']}"] if "user" in params else []
        return options + ([f"--pg1-database={params['dbname']}"] if "dbname" in params else [])

    def _stanza_info(self) -> dict[str, Any]:
        done = self._command.run(["info", "--output=json"])
        stanzas: list[dict[str, Any]] = json.loads(done.stdout or "[]")
        return stanzas[0] if stanzas else {}

    def _info(self, entry: dict[str, Any], verified: dict[str, bool]) -> BackupInfo:
        label = str(entry["label"])
        return BackupInfo(
            id=label,
            kind=entry["type"],
            started_at=datetime.fromtimestamp(entry["timestamp"]["start"], UTC),
            finished_at=datetime.fromtimestamp(entry["timestamp"]["stop"], UTC),
            size_bytes=entry["info"]["repository"]["size"],
            wal_start=entry["archive"]["start"],
            wal_stop=entry["archive"]["stop"],
            location=f"{self._repository} stanza {self._stanza} set {label}",
            verified=verified.get(label),
        )

    def _backup(self, backup_id: str, backups: list[BackupInfo]) -> BackupInfo:
        for backup in backups:
            if backup.id == backup_id:
                return backup
        raise UnknownBackupError(backup_id, [b.id for b in backups])

    def _verified(self) -> dict[str, bool]:
        try:
            return dict(json.loads((self._home / "verified.json").read_text()))
        except (OSError, ValueError):
            return {}

    def _record_verified(self, backup_id: str, ok: bool) -> None:
        record = {**self._verified(), backup_id: ok}
        write_text_atomic(self._home / "verified.json", json.dumps(record, indent=2) + "\n")

    @property
    def _timeout(self) -> float:
        return self._settings.timeout.total_seconds()
