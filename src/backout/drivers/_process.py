"""Start, watch and stop one service's process, remembering it on disk.

Shared by the `process` and `git-build` drivers. backout runs as separate short CLI processes
and a rollback may be resumed by another process after a crash, so everything known about the
running process lives in files:

    <state_dir>/drivers/<service>/process.json   the record: pid, its start time, version ...
    <state_dir>/drivers/<service>/lock           held while a deploy or stop changes things
    <state_dir>/logs/<service>.log               the service's stdout and stderr, appended

A process is started in its own session (so it outlives backout) and stopped as a whole
process group (so `npm start`'s node child goes too). A recorded pid counts as ours only while
the process holding it has the start time recorded with it, which guards against pid reuse.
Commands must run in the foreground: one that forks into the background and exits is reported
as having died at start.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from backout.atomic import write_text_atomic
from backout.clock import wait_until
from backout.drivers._pids import (
    POLL_INTERVAL,
    describe_exit,
    group_alive,
    group_is_ours,
    is_alive,
    port_is_free,
    port_is_listening,
    signal_group,
    start_ticks,
    track_child,
)
from backout.drivers.base import DriverStatus, ReleaseRef, RunState
from backout.durations import Duration, format_duration
from backout.errors import DriverError
from backout.file_lock import file_lock
from backout.registry import PluginContext, PluginSettings

logger = logging.getLogger(__name__)

Command = str | list[str]

IMMEDIATE_EXIT_WINDOW = 0.1  # a process alive this long after start "did not exit at once"
KILL_WAIT = 5.0
LOG_TAIL_LINES = 12
_LOG_HEADER = "--- backout"


class LaunchSettings(PluginSettings):
    """Settings of every driver that runs the service as a local process."""

    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="The port the service listens on: a deploy waits until the old process "
        "has released it before it starts the new one, and `status` reports whether it "
        "listens. Passed to the service as {port} and $PORT.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables added to backout's own for the service's commands.",
    )
    stop_timeout: Duration = Field(
        timedelta(seconds=10),
        description="How long a stop waits after SIGTERM before it sends SIGKILL.",
    )
    start_grace: Duration = Field(
        timedelta(0),
        description="How long a started process must stay alive to count as started. 0: it "
        f"must survive its first {IMMEDIATE_EXIT_WINDOW * 1000:g} ms, or, when a port is set, "
        "until it listens, whichever comes first.",
    )


def split_command(command: Command) -> list[str]:
    """A command as configured (one string in shell syntax, or a list) as an argument list."""
    return shlex.split(command) if isinstance(command, str) else list(command)


def check_command(command: Command, port: int | None) -> Command:
    """Refuse, at config time, a command that is empty or uses {port} without a port."""
    try:
        argv = split_command(command)
    except ValueError as error:
        raise ValueError(f"cannot split {command!r}: {error}") from None
    if not argv:
        raise ValueError("the command is empty")
    if port is None and any("{port}" in arg for arg in argv):
        raise ValueError("the command uses {port}, so `port` must be set")
    return command


def expand_command(command: Command, values: Mapping[str, str]) -> list[str]:
    """Split `command`, then replace each `{name}` of `values` in every argument.

    Only the known names are replaced, so other braces (JSON arguments, shell ${VARS}) stay.
    """
    argv = split_command(command)
    for name, value in values.items():
        argv = [arg.replace("{" + name + "}", value) for arg in argv]
    return argv


@dataclass(frozen=True)
class Launch:
    """What to start: a version's command line, its working directory and environment."""

    version: str
    argv: list[str]
    directory: Path
    env: dict[str, str]


@dataclass(frozen=True)
class ProcessRecord:
    """The content of process.json: the last process started, and whether backout stopped it."""

    version: str
    pid: int
    start_ticks: int | None  # field 22 of /proc/<pid>/stat, to tell our pid from a reused one
    started_at: str
    directory: str
    argv: list[str]
    port: int | None
    stopped_at: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ProcessRecord:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


class ServiceProcess:
    """The one process of one service: start, stop, observe; no side effects on creation."""

    def __init__(
        self, settings: LaunchSettings, context: PluginContext, slot: int | None = None
    ) -> None:
        """`slot`: the port of one of the service's slots (two versions side by side); each
        slot keeps its own record and log, and the slot's port replaces `port`."""
        self._settings = settings
        self._service = context.service
        self._port = slot if slot is not None else settings.port
        self.state_dir = context.state_dir / "drivers" / context.service
        name = context.service if slot is None else f"{context.service}-slot-{slot}"
        if slot is not None:
            self.state_dir = self.state_dir / f"slot-{slot}"
        self.record_path = self.state_dir / "process.json"
        self.log_path = context.state_dir / "logs" / f"{name}.log"

    # -- reading -----------------------------------------------------------------------------

    def record(self) -> ProcessRecord | None:
        """The last process started, as recorded; None when backout never started one."""
        try:
            return ProcessRecord.from_json(self.record_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            raise DriverError(
                f"the state file {self.record_path} cannot be read: {error}",
                hint="delete it if no process of this service runs, then deploy again",
            ) from None

    def running(self) -> ProcessRecord | None:
        """The record of the process running now, or None."""
        record = self.record()
        if record is None or record.stopped_at is not None:
            return None
        return record if is_alive(record.pid, record.start_ticks) else None

    def running_version(self) -> str | None:
        record = self.running()
        return None if record is None else record.version

    def status(self) -> DriverStatus:
        record = self.record()
        if record is None:
            return DriverStatus(RunState.STOPPED, None, "never started by backout")
        if record.stopped_at is not None:
            detail = f"stopped at {record.stopped_at} (it was running {record.version})"
            return DriverStatus(RunState.STOPPED, None, detail)
        if not is_alive(record.pid, record.start_ticks):
            detail = (
                f"{record.version} (pid {record.pid}, started at {record.started_at}) has died; "
                f"last lines of {self.log_path}:\n{self._indented_log_tail()}"
            )
            return DriverStatus(RunState.FAILED, record.version, detail, port=record.port)
        detail = f"{record.version} runs as pid {record.pid} since {record.started_at}"
        if record.port is not None:
            listening = port_is_listening(record.port)
            detail += f"; {'listening' if listening else 'not listening yet'} on port {record.port}"
        return DriverStatus(
            RunState.RUNNING,
            record.version,
            detail,
            pid=record.pid,
            port=record.port,
            url=f"http://127.0.0.1:{record.port}/" if record.port is not None else None,
            started_at=record.started_at,
        )

    # -- changing ----------------------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the service's lock file, so two backout processes never start it at once."""
        with file_lock(self.state_dir / "lock"):
            yield

    def launch(self, command: Command, version: str, directory: Path) -> Launch:
        """Expand `command` for `version` in `directory`; DriverError if it cannot start there."""
        values = self.placeholders(version, directory)
        launch = Launch(version, expand_command(command, values), directory, self.env(version))
        if not directory.is_dir():
            raise DriverError(f"cannot start {self._service} {version}: no folder {directory}")
        if not _program_exists(launch.argv[0], directory, launch.env.get("PATH")):
            raise DriverError(
                f"cannot start {self._service} {version}: program {launch.argv[0]!r} not found",
                hint=f"install it, or give its full path in the command (looked in {directory} "
                "and on PATH)",
            )
        return launch

    def placeholders(self, version: str, directory: Path) -> dict[str, str]:
        values = {"python": sys.executable, "version": version, "release_dir": str(directory)}
        if self._port is not None:
            values["port"] = str(self._port)
        return values

    def env(self, version: str) -> dict[str, str]:
        """backout's environment, the service's name, version and port, then the settings'."""
        env = dict(os.environ)
        env.update(BACKOUT_SERVICE=self._service, BACKOUT_VERSION=version)
        if self._port is not None:
            env["PORT"] = str(self._port)
        env.update(self._settings.env)
        return env

    def replace(self, launch: Launch) -> ProcessRecord:
        """Stop what runs, wait for the port to be free, start `launch`; call under lock()."""
        self.stop()
        if self._port is not None:
            self._wait_port_free(self._port)
        return self._start(launch)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after stop_timeout; a no-op when stopped."""
        record = self.record()
        if record is None or record.stopped_at is not None:
            return
        how = self._terminate(record)
        self._save(replace(record, stopped_at=_now()))
        self._log_note(f"stopped {record.version} (pid {record.pid}): {how}")
        logger.info("stopped %s %s (pid %d): %s", self._service, record.version, record.pid, how)

    # -- internals ---------------------------------------------------------------------------

    def _start(self, launch: Launch) -> ProcessRecord:
        started_at = _now()
        self._log_note(
            f"starting {launch.version}: {shlex.join(launch.argv)} (in {launch.directory})"
        )
        with self.log_path.open("ab") as log:
            try:
                popen = subprocess.Popen(
                    launch.argv,
                    cwd=launch.directory,
                    env=launch.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise DriverError(
                    f"cannot start {self._service} {launch.version}: {error.strerror} "
                    f"({error.filename or launch.argv[0]})"
                ) from None
        track_child(popen)
        record = ProcessRecord(
            version=launch.version,
            pid=popen.pid,
            start_ticks=start_ticks(popen.pid),
            started_at=started_at,
            directory=str(launch.directory),
            argv=launch.argv,
            port=self._port,
        )
        self._save(record)  # before waiting: a backout that dies now still knows the pid
        self._await_start(popen, record)
        logger.info("started %s %s as pid %d", self._service, launch.version, popen.pid)
        return record

    def _await_start(self, popen: subprocess.Popen[bytes], record: ProcessRecord) -> None:
        grace = self._settings.start_grace.total_seconds()
        deadline = time.monotonic() + max(grace, IMMEDIATE_EXIT_WINDOW)
        port = self._port if grace == 0 else None
        while True:
            code = popen.poll()
            if code is not None:
                why = self._indented_log_tail()  # before the children's output on their stop
                self._terminate(record)  # children it may have left behind
                raise DriverError(
                    f"{self._service} {record.version} {describe_exit(code)} right after it "
                    f"started; last lines of {self.log_path}:\n{why}",
                    hint=f"its command: {shlex.join(record.argv)} (in {record.directory})",
                )
            if time.monotonic() >= deadline or (port is not None and port_is_listening(port)):
                return
            time.sleep(POLL_INTERVAL)

    def _terminate(self, record: ProcessRecord) -> str:
        """Stop the record's process group; say how it went."""
        pgid = record.pid
        if not group_is_ours(pgid, record.start_ticks) or not group_alive(pgid):
            return "it had already exited"
        stop_timeout = self._settings.stop_timeout.total_seconds()
        signal_group(pgid, signal.SIGTERM)
        if wait_until(lambda: not group_alive(pgid), stop_timeout):
            return "exited on SIGTERM"
        logger.warning(
            "%s pid %d ignored SIGTERM for %s; sending SIGKILL",
            self._service,
            pgid,
            format_duration(stop_timeout),
        )
        signal_group(pgid, signal.SIGKILL)
        if wait_until(lambda: not group_alive(pgid), KILL_WAIT):
            return f"killed with SIGKILL after ignoring SIGTERM for {format_duration(stop_timeout)}"
        raise DriverError(
            f"{self._service} process group {pgid} survived SIGKILL for {KILL_WAIT:g}s",
            retryable=True,
            hint="a process in uninterruptible sleep (stuck I/O) dies when the I/O returns",
        )

    def _wait_port_free(self, port: int) -> None:
        timeout = self._settings.stop_timeout.total_seconds()
        if not wait_until(lambda: port_is_free(port), timeout):
            raise DriverError(
                f"port {port} of {self._service} is still in use after "
                f"{format_duration(timeout)}, by a process backout did not start",
                retryable=True,
                hint=f"find it with: ss -ltnp 'sport = :{port}'",
            )

    def _save(self, record: ProcessRecord) -> None:
        write_text_atomic(self.record_path, record.to_json())

    def _log_note(self, text: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"{_LOG_HEADER} {_now()}: {text}\n")

    def _indented_log_tail(self) -> str:
        return indented_log_tail(self.log_path, empty="  (no output)")


def indented_log_tail(path: Path, *, empty: str) -> str:
    """The log's last lines, each as `  | line`, for an error message; `empty` if none."""
    return "\n".join(f"  | {line}" for line in log_tail(path)) or empty


def release_folder(context: PluginContext, release: ReleaseRef, cwd: str | None) -> Path:
    """The release's own folder when its ref names one, else `cwd`, else the config's."""
    if release.ref:
        folder = context.resolve(release.ref)
        if folder.is_dir():
            return folder
    return context.resolve(cwd or ".")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines written to the log at `path` since backout's latest note in it."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 16_384))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    found = text.splitlines()
    notes = [i for i, line in enumerate(found) if line.startswith(f"{_LOG_HEADER} ")]
    return found[notes[-1] + 1 if notes else 0 :][-lines:]


def _program_exists(program: str, directory: Path, path: str | None) -> bool:
    if os.sep in program:
        candidate = directory / program
        return candidate.is_file() and os.access(candidate, os.X_OK)
    return shutil.which(program, path=path) is not None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
