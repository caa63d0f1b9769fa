"""Talking to pm2 through its command line: finding the program, running it, reading `jlist`.

pm2 keeps its processes in a daemon under PM2_HOME (default ~/.pm2); every `pm2` command is a
short client of that daemon and starts one when none runs. Reading the state must not start a
daemon (reading is side-effect free), so `apps()` first looks for the daemon's pid file and
answers "nothing runs" without calling pm2 when there is no live daemon.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backout.drivers._pids import is_alive
from backout.errors import ConfigError, DriverError
from backout.registry import PluginContext

STDERR_TAIL_LINES = 10
# A unix socket's path is at most 107 bytes on Linux; pm2 puts rpc.sock and pub.sock in its home
# and, past that length, fails with an error that does not say why.
MAX_SOCKET_PATH = 107
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Pm2App:
    """One process of an app as `pm2 jlist` shows it (a cluster app has one per instance)."""

    name: str
    pid: int | None
    status: str  # online, launching, stopping, stopped, errored, waiting restart ...
    version: str | None  # BACKOUT_VERSION of the environment backout started it with
    restarts: int
    started_at: str | None  # ISO 8601, UTC
    error_log: Path | None

    @classmethod
    def from_jlist(cls, entry: dict[str, Any]) -> Pm2App:
        env: dict[str, Any] = entry.get("pm2_env") or {}
        version = env.get("BACKOUT_VERSION")
        uptime = env.get("pm_uptime")
        error_log = env.get("pm_err_log_path")
        return cls(
            name=str(entry.get("name", "")),
            pid=int(entry["pid"]) if entry.get("pid") else None,
            status=str(env.get("status", "unknown")),
            version=str(version) if version is not None else None,
            restarts=int(env.get("restart_time") or 0),
            started_at=_iso_from_ms(uptime) if isinstance(uptime, int | float) else None,
            error_log=Path(error_log) if isinstance(error_log, str) else None,
        )


class Pm2Cli:
    """One pm2 program working on one PM2_HOME."""

    def __init__(self, program: Path, home: Path, timeout: float) -> None:
        self.program = program
        self.home = home
        self._timeout = timeout

    def apps(self, name: str) -> list[Pm2App]:
        """The processes of the app `name`; none when no daemon runs (without starting one)."""
        if not daemon_running(self.home):
            return []
        listing = _parse_jlist(self.run("jlist"))
        return [app for app in map(Pm2App.from_jlist, listing) if app.name == name]

    def ensure_daemon(self) -> None:
        """Start PM2_HOME's daemon from PM2_HOME itself, so that it never holds a release's
        folder as its working directory (a daemon outlives every release it started)."""
        if not daemon_running(self.home):
            self.home.mkdir(parents=True, exist_ok=True)
            self.run("ping", cwd=self.home)

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        """Run `pm2 ARGS`; its stdout, or DriverError with the tail of what it said."""
        command = [str(self.program), *args]
        full_env = {**_inherited_env(), **(env or {}), "PM2_HOME": str(self.home)}
        try:
            done = subprocess.run(
                command,
                check=False,
                cwd=cwd or self.home,
                env=full_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self._timeout,
            )
        except subprocess.TimeoutExpired:
            raise DriverError(
                f"`pm2 {' '.join(args)}` did not finish in {self._timeout:g}s",
                retryable=True,
                hint=f"is the pm2 daemon of {self.home} stuck? `PM2_HOME={self.home} pm2 ping`",
            ) from None
        except OSError as error:
            raise DriverError(f"cannot run {self.program}: {error.strerror}") from None
        if done.returncode != 0:
            said = tail(done.stderr) or tail(done.stdout) or "(it printed nothing)"
            raise DriverError(
                f"`pm2 {' '.join(args)}` failed (exit code {done.returncode}):\n{said}",
                hint=f"pm2's own log: {self.home / 'pm2.log'}",
            )
        return done.stdout


def daemon_running(home: Path) -> bool:
    """True when the pm2 daemon of `home` is alive (its pid file names a live process)."""
    try:
        pid = int((home / "pm2.pid").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return False
    return is_alive(pid, None)


def find_pm2(setting: str | None, context: PluginContext, extra_dirs: list[Path]) -> Path:
    """The pm2 program: `setting` (a path or a name on PATH), else `pm2` on PATH, else
    node_modules/.bin/pm2 in the config's folder or one of `extra_dirs`; ConfigError if none."""
    if setting is not None:
        found = _program(setting, context)
        if found is None:
            raise _not_found(context, f"{setting!r} is not an executable program")
        return found
    on_path = shutil.which("pm2")
    if on_path is not None:
        return Path(on_path)
    candidates = [d / "node_modules" / ".bin" / "pm2" for d in [context.base_dir, *extra_dirs]]
    for candidate in candidates:
        if _executable(candidate):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise _not_found(context, f"pm2 is not on PATH, nor at {looked}")


def pm2_home(setting: str | None, context: PluginContext) -> Path:
    """PM2_HOME: the setting (relative to the config's folder), else $PM2_HOME, else ~/.pm2."""
    if setting is not None:
        home = context.resolve(setting)
    elif os.environ.get("PM2_HOME"):
        home = Path(os.environ["PM2_HOME"]).expanduser()
    else:
        home = Path.home() / ".pm2"
    socket = home.absolute() / "rpc.sock"
    if len(os.fsencode(socket)) > MAX_SOCKET_PATH:
        raise ConfigError(
            str(context.config_file),
            [
                f"services.{context.service}.driver.pm2_home: {home} is too long for pm2's "
                f"sockets ({socket} is over {MAX_SOCKET_PATH} bytes)"
            ],
            hint="choose a shorter folder, e.g. under /var/lib or /tmp",
        )
    return home


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last lines of a pm2 output, colours removed, indented for a message."""
    found = [line.rstrip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return "\n".join(f"  | {line}" for line in found[-lines:])


def _inherited_env() -> dict[str, str]:
    """backout's environment less its own BACKOUT_* settings (a database URL, tokens): pm2
    keeps the environment of `pm2 start` with the app, in `pm2 jlist`, `pm2 env` and its dump."""
    return {name: value for name, value in os.environ.items() if not name.startswith("BACKOUT_")}


def _parse_jlist(stdout: str) -> list[dict[str, Any]]:
    # The listing is one JSON line; pm2 may print notices before it (a daemon update).
    for candidate in (stdout, *reversed(stdout.splitlines())):
        try:
            listing = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(listing, list):
            return [entry for entry in listing if isinstance(entry, dict)]
    raise DriverError(f"`pm2 jlist` printed no process list:\n{tail(stdout) or '  (nothing)'}")


def _program(setting: str, context: PluginContext) -> Path | None:
    if os.sep in setting:
        path = context.resolve(setting)
        return path if _executable(path) else None
    found = shutil.which(setting)
    return Path(found) if found is not None else None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _not_found(context: PluginContext, why: str) -> ConfigError:
    return ConfigError(
        str(context.config_file),
        [f"services.{context.service}.driver.pm2: pm2 not found: {why}"],
        hint="install it into the project with `npm install pm2` (it is then "
        "node_modules/.bin/pm2), or give its path as `pm2:`",
    )


def _iso_from_ms(milliseconds: float) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, UTC).isoformat(timespec="milliseconds")
