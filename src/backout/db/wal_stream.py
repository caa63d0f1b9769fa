"""Streaming WAL with pg_receivewal, and reading WAL segments: names, numbers, last commit.

Archiving ships a WAL segment only once it is full or `archive_timeout` has passed, so the
newest commits live only on the primary until then. `WalStream` runs `pg_receivewal` beside the
primary, writing every record into a folder as it is written: the current segment is the file
`<segment>.partial`. With `synchronous=True` the receiver flushes each record and reports it at
once, and `required_settings()` names it in `synchronous_standby_names`: a commit then returns
only once the receiver holds it — no committed transaction is lost when the primary dies (and
commits wait while the receiver is down: that is the price).

A restore uses the streamed WAL through `add_streamed_wal(folder, data_dir, ...)`: the
segments are copied into the restored data directory's `pg_wal`, the partial one renamed
without `.partial`. Recovery asks `restore_command` (the archive) first and reads `pg_wal` for
what the archive lacks, so the streamed tail extends the archived WAL; the rest of the partial
segment is zeroes, which recovery reads as the end of WAL. `PhysicalBackupEngine.restore(...,
streamed_wal=folder)` does this for you.

The receiver outlives the backout process that started it (its own session); its pid is kept in
the folder so that `stop()` works from another process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from backout.db import cluster  # the module, not its names: see backout.db.backup
from backout.db.backup.base import BackupError
from backout.db.connection import Database

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
SEGMENT_NAME = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$")
_XACT_TIME = re.compile(r"desc: (?:COMMIT|ABORT) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")
_PID_FILE = "pg_receivewal.pid"
_LOG_FILE = "pg_receivewal.log"
_POLL_S = 0.05


def segment_number(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """The position of a segment in the WAL, whatever its timeline: consecutive segments differ
    by one."""
    match = SEGMENT_NAME.match(name[:24])
    if match is None:
        raise ValueError(f"not a WAL segment name: {name!r}")
    per_log = 0x100000000 // segment_size
    return int(match.group(2), 16) * per_log + int(match.group(3), 16)


def segment_name(timeline: int, number: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    per_log = 0x100000000 // segment_size
    return f"{timeline:08X}{number // per_log:08X}{number % per_log:08X}"


@dataclass(frozen=True)
class WalReach:
    """How far the WAL after a backup goes: the last restorable commit, and the first hole."""

    time: datetime
    missing: str | None  # the first missing segment, when later ones exist


def wal_reach(
    start: str,
    segments: Sequence[str | Path],
    *,
    floor: datetime,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    transaction_time: Callable[[str | Path], datetime | None],
) -> WalReach:
    """From segment `start` (a backup's first), how far recovery gets through `segments` without
    a hole, and the time of the last transaction it replays (looked for from the newest segment
    back; never before `floor`, the end of the backup). `segments` are archived names,
    sorted so that a higher timeline comes later and wins, and streamed files, which count
    only where no archived segment is."""
    first = segment_number(start, segment_size)
    available: dict[int, str | Path] = {}
    for segment in segments:
        number = segment_number(segment if isinstance(segment, str) else segment.name, segment_size)
        if number >= first and (isinstance(segment, str) or number not in available):
            available[number] = segment
    last = first - 1
    while last + 1 in available:
        last += 1
    hole = last < max(available, default=last) or last < first
    missing = segment_name(int(start[:8], 16), last + 1, segment_size) if hole else None
    found = None
    # Back to the backup's first segment if need be: a bulk load can fill many segments with
    # no transaction end, and stopping early would refuse targets the archive does reach.
    for number in range(last, first - 1, -1):
        if (found := transaction_time(available[number])) is not None:
            break
    return WalReach(max(found or floor, floor), missing)


def wal_segment_size(data_dir: Path, bindir: Path, os_user: str | None) -> int:
    """The cluster's WAL segment size, from pg_controldata; the default when unreadable."""
    done = cluster.run_tool([bindir / "pg_controldata", "-D", data_dir], user=os_user)
    found = re.search(r"Bytes per WAL segment:\s+(\d+)", done.stdout)
    return int(found.group(1)) if found else DEFAULT_SEGMENT_SIZE


def last_transaction_time(segment: Path, bindir: Path) -> datetime | None:
    """The time of the last commit or abort recorded in one WAL segment file, via pg_waldump.

    The file may be a `.partial` one. None when the segment records no transaction end.
    """
    with tempfile.TemporaryDirectory(prefix="backout-waldump-") as scratch:
        plain = segment
        if segment.name.endswith(".partial"):
            plain = Path(scratch) / segment.name.removesuffix(".partial")
            shutil.copyfile(segment, plain)
        # pg_waldump prints times in its own time zone; UTC makes them parseable. Its exit
        # code is 1 at the zeroed end of a partial segment, which is not a failure here.
        done = cluster.run_tool(
            [bindir / "pg_waldump", plain, plain], user=None, env={"TZ": "UTC"}, timeout=60
        )
    times = _XACT_TIME.findall(done.stdout)
    if not times:
        return None
    return datetime.fromisoformat(times[-1]).replace(tzinfo=UTC)


def streamed_segments(folder: Path) -> list[Path]:
    """The WAL segment files (complete and partial) in a pg_receivewal folder, oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if SEGMENT_NAME.match(p.name)]
    return sorted(found, key=lambda p: (p.name[8:24], p.name[:8], p.name.endswith(".partial")))


def add_streamed_wal(
    folder: Path, data_dir: Path, os_user: str | None, *, from_segment: str | None = None
) -> list[str]:
    """Copy streamed segments (from `from_segment` on) into `data_dir/pg_wal` for recovery.

    The partial segment is renamed to its plain name; timeline history files come along.
    Files already there are left alone. Returns the names written.
    """
    wal_dir = data_dir / "pg_wal"
    first = from_segment[8:24] if from_segment else ""  # log and segment, whatever the timeline
    written = []
    for source in streamed_segments(folder):
        name = source.name.removesuffix(".partial")
        if name[8:24] < first or (wal_dir / name).exists():
            continue
        _copy_owned(source, wal_dir / name, os_user)
        written.append(name)
    for history in folder.glob("*.history"):
        if not (wal_dir / history.name).exists():
            _copy_owned(history, wal_dir / history.name, os_user)
            written.append(history.name)
    return written


def _copy_owned(source: Path, target: Path, os_user: str | None) -> None:
    temporary = target.with_name(f".{target.name}.copy")
    shutil.copyfile(source, temporary)
    temporary.chmod(0o600)
    cluster.give_to(temporary, os_user)
    temporary.replace(target)


def quote_standby_name(name: str) -> str:
    """A name as synchronous_standby_names wants it: double-quoted unless a plain identifier."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass
class WalStream:
    """pg_receivewal for `database`'s server, writing WAL into `folder` through a slot."""

    database: Database
    folder: Path
    bindir: Path
    slot: str = "backout_receivewal"
    synchronous: bool = False
    application_name: str = "backout_receivewal"

    def required_settings(self) -> dict[str, str]:
        """The server settings streaming needs; synchronous mode names the receiver."""
        settings = {"wal_level": "replica"}
        if self.synchronous:
            settings["synchronous_standby_names"] = quote_standby_name(self.application_name)
            settings["synchronous_commit"] = "on"
        return settings

    def start(self, timeout: float = 30.0) -> None:
        """Create the slot if missing, start the receiver, return once it streams. Idempotent."""
        if self.running():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._create_slot()
        process = self._spawn()
        try:
            self._wait_until_streaming(time.monotonic() + timeout)
        except BaseException:
            process.kill()
            process.wait()
            (self.folder / _PID_FILE).unlink(missing_ok=True)
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the receiver (SIGINT: it flushes what it holds first). Idempotent."""
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while self._alive(pid) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
        killed = self._alive(pid)
        if killed:
            os.kill(pid, signal.SIGKILL)
        _reap(pid, wait=killed)
        (self.folder / _PID_FILE).unlink(missing_ok=True)

    def running(self) -> bool:
        return self._pid() is not None

    def drop_slot(self) -> None:
        """Drop the replication slot, so the server no longer keeps WAL for this receiver."""
        done = cluster.run_tool(
            [self.bindir / "pg_receivewal", "--drop-slot", "-S", self.slot, "-d", self._conninfo()],
            user=None,
            timeout=60,
        )
        if done.returncode != 0 and "does not exist" not in done.stderr:
            raise BackupError(f"pg_receivewal --drop-slot failed: {done.stderr.strip()}")

    def newest_received(self) -> datetime | None:
        """The time of the newest commit the receiver holds (None before any)."""
        for segment in reversed(streamed_segments(self.folder)):
            found = last_transaction_time(segment, self.bindir)
            if found is not None:
                return found
        return None

    def _conninfo(self) -> str:
        return make_conninfo(self.database.conninfo, application_name=self.application_name)

    def _create_slot(self) -> None:
        done = cluster.run_tool(
            [
                self.bindir / "pg_receivewal",
                "--create-slot",
                "--if-not-exists",
                "-S",
                self.slot,
                "-d",
                self._conninfo(),
            ],
            user=None,
            timeout=60,
        )
        if done.returncode != 0:
            raise BackupError(
                f"could not create the replication slot {self.slot!r} on "
                f"{self.database.describe()}: {done.stderr.strip()}",
                retryable=True,
                hint="the server needs wal_level=replica, a free max_replication_slots and a "
                "pg_hba.conf `replication` entry for this user",
            )

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [
            str(self.bindir / "pg_receivewal"),
            "-D",
            str(self.folder.resolve()),
            "-S",
            self.slot,
            "-d",
            self._conninfo(),
            "--no-password",
        ]
        if self.synchronous:
            argv.append("--synchronous")
        with (self.folder / _LOG_FILE).open("ab") as log:
            try:
                process = subprocess.Popen(
                    argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
                )
            except FileNotFoundError:
                raise BackupError(f"{argv[0]} not found: check the bindir setting") from None
        (self.folder / _PID_FILE).write_text(f"{process.pid}\n")
        return process

    def _wait_until_streaming(self, deadline: float) -> None:
        query = "SELECT state FROM pg_stat_replication WHERE application_name = %s"
        while True:
            pid = self._pid()
            if pid is None:
                raise BackupError(
                    f"pg_receivewal stopped at once: {cluster.tail(self.folder / _LOG_FILE, 5)}"
                )
            try:
                with psycopg.connect(self.database.conninfo, connect_timeout=5) as probe:
                    row = probe.execute(query, (self.application_name,)).fetchone()
            except psycopg.Error as error:
                raise BackupError(
                    f"cannot watch pg_receivewal's progress: {error}", retryable=True
                ) from None
            if row is not None and row[0] == "streaming":
                return
            if time.monotonic() > deadline:
                raise BackupError("pg_receivewal did not start streaming in time", retryable=True)
            time.sleep(_POLL_S)

    def _pid(self) -> int | None:
        """The receiver's pid if it runs: the pid file's, checked against /proc (pids recycle)."""
        try:
            pid = int((self.folder / _PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid) else None

    def _alive(self, pid: int) -> bool:
        try:
            status = Path(f"/proc/{pid}/stat").read_text()
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        name, _, rest = status.partition("(")[2].rpartition(")")
        zombie = rest.split()[0] == "Z"
        # cmdline reads empty for a moment right after the exec; the name is there already.
        ours = arguments == [b""] or str(self.folder.resolve()).encode() in arguments
        return name == "pg_receivewal" and ours and not zombie


def _reap(pid: int, *, wait: bool) -> None:
    """Collect the exit status when the receiver is our own child, so that no zombie stays."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0 if wait else os.WNOHANG)
